//! Value parsers for the flags: addresses, URLs, issuers and algorithms.
use std::net::SocketAddr;

use crate::token::keyring::Algorithm;

/// A public base URL: absolute http(s), no query or fragment; kept without a trailing slash.
pub fn parse_public_url(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s).map_err(|e| format!("not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("an http:// or https:// URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("a URL without a query or #fragment".into());
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// An issuer URL, kept exactly as given (tokens' `iss` must equal it).
pub(super) fn parse_issuer(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s).map_err(|e| format!("not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("an http:// or https:// issuer URL".into());
    }
    Ok(s.to_owned())
}

/// `ISSUER=PREFIX`, split at the last `=`; the issuer must be a URL (the prefix may be empty).
pub(super) fn parse_opaque_prefix(s: &str) -> Result<(String, String), String> {
    let (issuer, prefix) = s.rsplit_once('=').ok_or("expected ISSUER=PREFIX (e.g. https://sso.example.com=ory_at_)")?;
    Ok((parse_issuer(issuer)?, prefix.to_owned()))
}

pub(super) fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse()
}

/// A listening address: `HOST:PORT` (a name is resolved, IPv4 preferred), or `:PORT` or
/// `PORT` alone for 127.0.0.1.
pub fn parse_bind(s: &str) -> Result<SocketAddr, String> {
    use std::net::{Ipv4Addr, ToSocketAddrs as _};
    let s = s.trim();
    let usage = "expected HOST:PORT, :PORT or PORT (e.g. 127.0.0.1:8080, localhost:8080, [::1]:8080 or 8080)";
    let port_only = s.strip_prefix(':').unwrap_or(s);
    if !port_only.is_empty() && port_only.bytes().all(|b| b.is_ascii_digit()) {
        let port = port_only.parse::<u16>().map_err(|_| format!("port {port_only} is over 65535: {usage}"))?;
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("{s:?} has no port: {usage}"));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("{s:?}: {usage}"));
    }
    let addrs: Vec<SocketAddr> =
        s.to_socket_addrs().map_err(|e| format!("{host:?} does not resolve ({e}): {usage}"))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("{host:?} resolves to no address: {usage}"))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::{parse_bind, parse_opaque_prefix};

    #[test]
    fn an_opaque_token_prefix_names_an_issuer_url() {
        let parsed = |s| parse_opaque_prefix(s);
        assert_eq!(parsed("https://sso.example.com=ory_at_"), Ok(("https://sso.example.com".into(), "ory_at_".into())));
        assert_eq!(
            parsed("https://sso.example.com/realms/p="),
            Ok(("https://sso.example.com/realms/p".into(), "".into()))
        );
        assert!(parsed("https://sso.example.com").is_err());
        assert!(parsed("ory_at_=https://sso.example.com").is_err());
    }

    #[test]
    fn bind_takes_an_address_a_name_or_a_port_alone() {
        let local = |port| SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(parse_bind("127.0.0.1:8080"), Ok(local(8080)));
        assert_eq!(parse_bind("0.0.0.0:80"), Ok(SocketAddr::from(([0, 0, 0, 0], 80))));
        assert_eq!(parse_bind("[::1]:8080"), Ok("[::1]:8080".parse().expect("v6")));
        assert_eq!(parse_bind(":8080"), Ok(local(8080)));
        assert_eq!(parse_bind("8080"), Ok(local(8080)));
        assert_eq!(parse_bind("0"), Ok(local(0)));
        let resolved = parse_bind("localhost:8080").expect("localhost resolves");
        assert!(resolved.ip().is_loopback() && resolved.port() == 8080, "{resolved}");
        for bad in ["nowhere", "", ":", "localhost:", ":99999", "99999", "host:port", "no-such-host.invalid:80"] {
            let err = parse_bind(bad).expect_err(bad);
            assert!(err.contains("HOST:PORT"), "{bad:?}: {err}");
        }
    }
}
