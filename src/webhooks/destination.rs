//! Where a webhook may send: server-side request forgery is refused. A destination that is,
//! or resolves to, a loopback, private, link-local (cloud metadata included), shared or
//! otherwise non-public address is refused unless the operator allows private destinations;
//! plain `http` is refused unless the operator allows it. The address is checked when the
//! webhook is registered and again on every connection, so a name that later resolves
//! elsewhere (DNS rebinding) is refused too.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What the operator allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Loopback, private and link-local destinations (for tests and closed networks).
    pub allow_private: bool,
    /// Plain `http://` destinations.
    pub allow_http: bool,
}

/// Whether `ip` is an address a webhook must not reach without the operator's leave.
pub(crate) fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments and benchmarking: 192.0.0.0/24, 198.18.0.0/15.
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (18..20).contains(&b))
        // Reserved, 240.0.0.0/4.
        || a >= 240
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local fc00::/7 and link-local fe80::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // Documentation 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // NAT64's local-use prefix 64:ff9b:1::/48 (RFC 8215) translates to local networks.
        || (first == 0x0064 && ip.segments()[1] == 0xff9b && ip.segments()[2] == 0x0001)
        || embedded_v4(ip).iter().any(|v4| forbidden_v4(*v4))
}

/// The IPv4 addresses an IPv6 address carries, where a router or a host's stack would reach
/// them: IPv4-compatible `::a.b.c.d` (deprecated, still routed by some stacks), NAT64's
/// well-known prefix `64:ff9b::/96` (RFC 6052), 6to4 `2002:AABB:CCDD::/48` (RFC 3056), and
/// Teredo `2001:0::/32` (RFC 4380: the server's address, and the client's, inverted).
/// IPv4-mapped addresses are unwrapped before this (see [`is_forbidden`]).
fn embedded_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let pair = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if s[..6] == [0; 6] {
        return vec![pair(s[6], s[7])];
    }
    if s[..6] == [0x0064, 0xff9b, 0, 0, 0, 0] {
        return vec![pair(s[6], s[7])];
    }
    if s[0] == 0x2002 {
        return vec![pair(s[1], s[2])];
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return vec![pair(s[2], s[3]), pair(!s[6], !s[7])];
    }
    Vec::new()
}

/// Checks a URL's form: `https` (or `http` where allowed), a host, no credentials. A host
/// that is an address literal is checked here too.
pub(crate) fn check_url(raw: &str, policy: Policy) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => {
            return Err(
                "plain http is not allowed: use an https URL (the operator can allow http with --webhook-allow-http)"
                    .into(),
            );
        }
        other => return Err(format!("the scheme {other:?} is not allowed: use an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a URL with credentials is not allowed".into());
    }
    let ip = match url.host() {
        None => return Err("the URL has no host".into()),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
    };
    if let Some(ip) = ip.filter(|ip| !policy.allow_private && is_forbidden(*ip)) {
        return Err(format!(
            "the address {ip} is not a public address (the operator can allow private destinations with \
             --webhook-allow-private)"
        ));
    }
    Ok(url)
}

/// Resolves a URL's host now and refuses it when any address it names is forbidden.
pub(crate) async fn check_resolved(url: &url::Url, policy: Policy) -> Result<(), String> {
    if policy.allow_private {
        return Ok(());
    }
    let Some(url::Host::Domain(name)) = url.host() else { return Ok(()) };
    let port = url.port_or_known_default().unwrap_or(443);
    resolve(name, port).await.map(|_| ())
}

/// The public addresses `name` resolves to; an error when it resolves to none, or to any
/// forbidden one (a name that mixes both is refused whole).
pub(crate) async fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| format!("the host {name} does not resolve ({e})"))?
        .collect();
    if let Some(bad) = found.iter().find(|a| is_forbidden(a.ip())) {
        return Err(format!(
            "the host {name} resolves to {}, which is not a public address (the operator can allow private \
             destinations with --webhook-allow-private)",
            bad.ip()
        ));
    }
    if found.is_empty() {
        return Err(format!("the host {name} resolves to no address"));
    }
    Ok(found)
}

/// A resolver for the delivery client that refuses forbidden addresses at connect time.
pub(crate) struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addrs =
                resolve(&name, 0).await.map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_forbidden() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::",
        ] {
            assert!(is_forbidden(bad.parse().expect("ip")), "{bad}");
        }
        for good in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(!is_forbidden(good.parse().expect("ip")), "{good}");
        }
    }

    /// IPv6 forms that carry an IPv4 address: each is refused when that address is not
    /// public, and each form carrying a public address is not.
    #[test]
    fn ipv6_addresses_that_embed_a_non_public_ipv4_address_are_forbidden() {
        for bad in [
            // IPv4-compatible.
            "::127.0.0.1",
            "::7f00:1",
            "::10.0.0.1",
            "::169.254.169.254",
            // IPv4-mapped.
            "::ffff:127.0.0.1",
            "::ffff:192.168.0.1",
            // 6to4 of 127.0.0.1, 10.0.0.1 and 169.254.169.254.
            "2002:7f00:1::",
            "2002:7f00:0001:1234::1",
            "2002:a00:1::",
            "2002:a9fe:a9fe::",
            // NAT64, the well-known prefix and the local-use one.
            "64:ff9b::127.0.0.1",
            "64:ff9b::10.1.2.3",
            "64:ff9b:1::8.8.8.8",
            // Teredo: a private server, and a client of 127.0.0.1 (stored inverted).
            "2001:0:a00:1::",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
        ] {
            assert!(is_forbidden(bad.parse().expect("ip")), "{bad}");
        }
        for good in [
            "::8.8.8.8",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
            "64:ff9b::8.8.8.8",
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
        ] {
            assert!(!is_forbidden(good.parse().expect("ip")), "{good}");
        }
    }

    /// The resolver the delivery client connects through refuses a name that resolves to a
    /// private address at connect time, whatever was checked at registration.
    #[tokio::test]
    async fn the_delivery_resolver_refuses_names_of_private_addresses() {
        use reqwest::dns::Resolve as _;
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        let refused = GuardedResolver.resolve(name).await.err().expect("localhost is refused");
        assert!(refused.to_string().contains("not a public address"), "{refused}");
        let client =
            reqwest::Client::builder().dns_resolver(std::sync::Arc::new(GuardedResolver)).build().expect("client");
        let err = client.get("http://localhost:9/").send().await.expect_err("no connection is made");
        assert!(format!("{:?}", err).contains("not a public address"), "{err:?}");
    }

    #[test]
    fn urls_are_checked_for_scheme_host_and_literal_addresses() {
        let strict = Policy::default();
        assert!(check_url("https://hooks.example.com/x", strict).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "https://user:pw@hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://[::1]:8443/x",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.7/x",
            "not a url",
        ] {
            assert!(check_url(bad, strict).is_err(), "{bad}");
        }
        let open = Policy { allow_private: true, allow_http: true };
        assert!(check_url("http://127.0.0.1:9000/x", open).is_ok());
    }
}
