//! Clients: the tenants of the service.
use super::ids::ClientId;

/// A tenant of the service.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub created_at: i64,
}

crate::domain::name::bounded_name!(
    /// A client's name, for people to recognise it by.
    ClientName,
    "client",
    200
);

#[cfg(test)]
mod tests {
    use super::ClientName;

    #[test]
    fn a_client_name_has_1_to_200_characters() {
        assert!(ClientName::parse(&"x".repeat(200)).is_ok());
        assert!(ClientName::parse(&"x".repeat(201)).is_err());
        assert!(ClientName::parse(" ").is_err());
        assert!(ClientName::parse("a\nb").is_err(), "no control characters inside a name");
        assert!(ClientName::parse("a\u{1b}[31mb").is_err());
        assert_eq!(ClientName::parse("  Acme Ltd  ").map(ClientName::into_inner), Ok("Acme Ltd".to_owned()));
    }
}
