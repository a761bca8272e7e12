//! The SQL both backends share. Both SQLite and PostgreSQL accept this dialect (`$N`
//! placeholders, `RETURNING`, `ON CONFLICT DO NOTHING`, partial unique indexes), so each
//! verb is written once; [`sql_store!`] expands it for one backend's pool, row and
//! transaction types. What differs between backends (connecting, error codes, how a
//! writing transaction takes its lock, migrations) stays in the backend's own module, which
//! must provide `map_err(sqlx::Error) -> StoreError`,
//! `async fn begin_write(&self, lock: WriteLock) -> Result<Transaction, StoreError>`,
//! `fn issuance_sql(rows) -> &'static str` (from [`issuance_sql`], with the backend's
//! transaction control), `async fn issue(&self, query) -> Result<Vec<Row>, StoreError>`,
//! which runs it as one atomic, durable transaction, and `const FOR_UPDATE: &str`, the row
//! lock a reading statement appends where writers are not already serialized (PostgreSQL).

/// Which cross-process critical section a writing transaction enters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteLock {
    /// No lock beyond the database's own row locks.
    None,
    /// Creating the first client of an empty database.
    Bootstrap,
    /// Changing which signing key is active.
    Keyring,
}

impl WriteLock {
    /// A key for advisory locks.
    pub fn key(self) -> i64 {
        match self {
            WriteLock::None => 0,
            WriteLock::Bootstrap => 0x7465_7373_0001,
            WriteLock::Keyring => 0x7465_7373_0002,
        }
    }
}

use std::sync::OnceLock;

pub const CONNECTION_COLUMNS: &str =
    "id, client_id, customer_id, retailer_id, email, mobile, status, created_at, updated_at";
pub const API_KEY_COLUMNS: &str = "id, client_id, digest, created_at, revoked_at";
pub const SIGNING_KEY_COLUMNS: &str =
    "kid, alg, state, public_key, private_key_sealed, created_at, activated_at, retired_at";
pub const ISSUED_SELECT: &str = "jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at, revoked_at";

/// The most tokens one issuance statement records. A batch is padded to the next power of
/// two (with rows that match nothing), so the statement has ten texts in all and each stays
/// in its connection's prepared-statement cache.
pub const MAX_ISSUANCE_ROWS: usize = 512;
const ISSUANCE_SIZES: usize = MAX_ISSUANCE_ROWS.trailing_zeros() as usize + 1;
/// Placeholders per token in the issuance statement.
const ISSUANCE_COLUMNS: usize = 7;

/// The statement recording `rows` (a power of two) tokens, each `(jti, connection, client,
/// key, kid, issued_at, expires_at)`. A token is inserted only when its connection is the
/// client's and not disconnected and its key is the client's and not revoked, as of the
/// statement; the customer id it returns is stored with the token and goes into its claims.
/// `wrap` puts each backend's transaction control around it.
/// `numbered` chooses `$1, $2, ...` placeholders over `?, ?, ...` (which SQLite binds in
/// constant time each, where it looks a numbered one up by name in a list).
/// `lock` is appended to the `SELECT`: where writers are not serialized (PostgreSQL), the
/// connection and key rows are locked against a concurrent disconnection or revocation,
/// which takes `FOR UPDATE` first; so a token is either recorded before the change (and
/// revoked by it) or checked after it (and refused), never recorded unrevoked after it.
pub fn issuance_sql(
    cache: &'static OnceLock<Vec<String>>,
    rows: usize,
    numbered: bool,
    lock: &'static str,
    wrap: fn(String) -> String,
) -> &'static str {
    debug_assert!(rows.is_power_of_two() && rows <= MAX_ISSUANCE_ROWS);
    let build = |n: usize| {
        let placeholder = |i: usize| if numbered { format!("${i}") } else { "?".to_owned() };
        let row = |r: usize| {
            let cells: Vec<String> = (1..=ISSUANCE_COLUMNS).map(|c| placeholder(r * ISSUANCE_COLUMNS + c)).collect();
            format!("({})", cells.join(", "))
        };
        let values: Vec<String> = (0..n).map(row).collect();
        wrap(format!(
            "INSERT INTO issued_tokens (jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at, customer_id)
             SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, c.customer_id
             FROM (VALUES {}) AS v
             JOIN connections c ON c.id = v.column2 AND c.client_id = v.column3
             JOIN api_keys k ON k.id = v.column4 AND k.client_id = v.column3
             WHERE c.status <> 'disconnected' AND k.revoked_at IS NULL{lock}
             RETURNING jti, customer_id",
            values.join(", ")
        ))
    };
    &cache.get_or_init(|| (0..ISSUANCE_SIZES).map(|i| build(1 << i)).collect())[rows.trailing_zeros() as usize]
}

/// Expands the shared verbs for one backend: `sql_store!(StoreType, RowType, ConnType, {
/// backend-specific trait methods })`.
macro_rules! sql_store {
    ($store:ty, $row:ty, $conn:ty, { $($specific:tt)* }) => {
        use sqlx::Row as _;
        use $crate::domain::api_key::ApiKeyDigest;
        use $crate::domain::connection::{Connection, ConnectionPatch};
        use $crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, Kid, TokenId};
        use $crate::storage::sql_store::{
            API_KEY_COLUMNS, CONNECTION_COLUMNS, ISSUED_SELECT, SIGNING_KEY_COLUMNS, WriteLock,
        };
        use $crate::domain::api_key::ApiKeyRecord;
        use $crate::domain::client::Client;
        use $crate::domain::event::Event;
        use $crate::domain::signing_key::SigningKeyRecord;
        use $crate::domain::token::IssuedToken;
        use $crate::storage::{Change, IdempotencyState, Store, StoreError};

        fn get<'r, T>(row: &'r $row, column: &str) -> Result<T, StoreError>
        where
            T: sqlx::Decode<'r, <$row as sqlx::Row>::Database> + sqlx::Type<<$row as sqlx::Row>::Database>,
        {
            row.try_get(column).map_err(map_err)
        }

        fn client_from(row: &$row) -> Result<Client, StoreError> {
            Ok(Client {
                id: ClientId::from_string(get::<String>(row, "id")?),
                name: get(row, "name")?,
                created_at: get(row, "created_at")?,
            })
        }

        fn api_key_from(row: &$row) -> Result<ApiKeyRecord, StoreError> {
            let digest: Vec<u8> = get(row, "digest")?;
            Ok(ApiKeyRecord {
                id: ApiKeyId::from_string(get::<String>(row, "id")?),
                client_id: ClientId::from_string(get::<String>(row, "client_id")?),
                digest: ApiKeyDigest::from_bytes(&digest)
                    .ok_or_else(|| StoreError::Corrupt($crate::storage::cause_msg("stored API key digest has the wrong length")))?,
                created_at: get(row, "created_at")?,
                revoked_at: get(row, "revoked_at")?,
            })
        }

        fn connection_from(row: &$row) -> Result<Connection, StoreError> {
            let status: String = get(row, "status")?;
            Ok(Connection {
                id: ConnectionId::from_string(get::<String>(row, "id")?),
                client_id: ClientId::from_string(get::<String>(row, "client_id")?),
                customer_id: get(row, "customer_id")?,
                retailer_id: get(row, "retailer_id")?,
                email: get(row, "email")?,
                mobile: get(row, "mobile")?,
                status: status.parse().map_err(|e: String| StoreError::Corrupt($crate::storage::cause_msg(e)))?,
                created_at: get(row, "created_at")?,
                updated_at: get(row, "updated_at")?,
            })
        }

        fn signing_key_from(row: &$row) -> Result<SigningKeyRecord, StoreError> {
            Ok(SigningKeyRecord {
                kid: Kid::from_string(get::<String>(row, "kid")?),
                alg: get(row, "alg")?,
                state: get(row, "state")?,
                public_key: get(row, "public_key")?,
                private_key_sealed: get(row, "private_key_sealed")?,
                created_at: get(row, "created_at")?,
                activated_at: get(row, "activated_at")?,
                retired_at: get(row, "retired_at")?,
            })
        }

        fn issued_from(row: &$row) -> Result<IssuedToken, StoreError> {
            Ok(IssuedToken {
                jti: TokenId::from_string(get::<String>(row, "jti")?),
                connection_id: ConnectionId::from_string(get::<String>(row, "connection_id")?),
                client_id: ClientId::from_string(get::<String>(row, "client_id")?),
                api_key_id: ApiKeyId::from_string(get::<String>(row, "api_key_id")?),
                kid: Kid::from_string(get::<String>(row, "kid")?),
                issued_at: get(row, "issued_at")?,
                expires_at: get(row, "expires_at")?,
                revoked_at: get(row, "revoked_at")?,
            })
        }

        async fn insert_client(conn: &mut $conn, client: &Client) -> Result<(), StoreError> {
            sqlx::query("INSERT INTO clients (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(client.id.as_str())
                .bind(&client.name)
                .bind(client.created_at)
                .execute(conn)
                .await
                .map_err(map_err)?;
            Ok(())
        }

        async fn insert_api_key(conn: &mut $conn, key: &ApiKeyRecord) -> Result<(), StoreError> {
            sqlx::query(&format!("INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
                .bind(key.id.as_str())
                .bind(key.client_id.as_str())
                .bind(key.digest.as_bytes())
                .bind(key.created_at)
                .bind(key.revoked_at)
                .execute(conn)
                .await
                .map_err(map_err)?;
            Ok(())
        }

        async fn insert_signing_key(conn: &mut $conn, key: &SigningKeyRecord, on_conflict: &str) -> Result<u64, StoreError> {
            let done = sqlx::query(&format!(
                "INSERT INTO signing_keys ({SIGNING_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) {on_conflict}"
            ))
            .bind(key.kid.as_str())
            .bind(&key.alg)
            .bind(&key.state)
            .bind(&key.public_key)
            .bind(&key.private_key_sealed)
            .bind(key.created_at)
            .bind(key.activated_at)
            .bind(key.retired_at)
            .execute(conn)
            .await
            .map_err(map_err)?;
            Ok(done.rows_affected())
        }

        async fn insert_event(
            conn: &mut $conn,
            connection: &ConnectionId,
            client: &ClientId,
            kind: &str,
            change: &Change,
            data: serde_json::Value,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO connection_events (id, connection_id, client_id, kind, at, api_key_id, data)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(TokenId::generate().as_str())
            .bind(connection.as_str())
            .bind(client.as_str())
            .bind(kind)
            .bind(change.at)
            .bind(change.actor.as_ref().map(|a| a.as_str().to_owned()))
            .bind(data.to_string())
            .execute(conn)
            .await
            .map_err(map_err)?;
            Ok(())
        }

        fn event_from(row: &$row) -> Result<Event, StoreError> {
            let data: String = get(row, "data")?;
            Ok(Event {
                event_id: get(row, "id")?,
                kind: get(row, "kind")?,
                at: get(row, "at")?,
                api_key_id: get(row, "api_key_id")?,
                data: serde_json::from_str(&data).map_err(|e| StoreError::Corrupt($crate::storage::cause(e)))?,
            })
        }

        async fn revoke_connection_tokens(
            conn: &mut $conn,
            client: &ClientId,
            id: &ConnectionId,
            at: i64,
        ) -> Result<u64, StoreError> {
            let done = sqlx::query(
                "UPDATE issued_tokens SET revoked_at = $3 WHERE connection_id = $1 AND client_id = $2 AND revoked_at IS NULL",
            )
            .bind(id.as_str())
            .bind(client.as_str())
            .bind(at)
            .execute(conn)
            .await
            .map_err(map_err)?;
            Ok(done.rows_affected())
        }

        #[async_trait::async_trait]
        impl Store for $store {
            $($specific)*

            fn pool_stats(&self) -> $crate::storage::PoolStats {
                $crate::storage::PoolStats {
                    size: self.pool.size(),
                    idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
                    max: self.pool.options().get_max_connections(),
                }
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_err)?;
                Ok(())
            }

            async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
                let mut conn = self.pool.acquire().await.map_err(map_err)?;
                insert_client(&mut conn, client).await
            }

            async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
                sqlx::query("SELECT id, name, created_at FROM clients WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(client_from)
                    .transpose()
            }

            async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
                sqlx::query("SELECT id, name, created_at FROM clients ORDER BY created_at, id")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(client_from)
                    .collect()
            }

            async fn bootstrap_client(&self, client: &Client, key: &ApiKeyRecord) -> Result<bool, StoreError> {
                let mut tx = self.begin_write(WriteLock::Bootstrap).await?;
                let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clients")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                if existing > 0 {
                    return Ok(false);
                }
                insert_client(&mut tx, client).await?;
                insert_api_key(&mut tx, key).await?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
                let mut conn = self.pool.acquire().await.map_err(map_err)?;
                insert_api_key(&mut conn, key).await
            }

            async fn find_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
                sqlx::query(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"))
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(api_key_from)
                    .transpose()
            }

            async fn list_api_keys(&self, client: &ClientId) -> Result<Vec<ApiKeyRecord>, StoreError> {
                sqlx::query(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE client_id = $1 ORDER BY id"))
                    .bind(client.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(api_key_from)
                    .collect()
            }

            async fn revoke_api_key(&self, id: &ApiKeyId, at: i64) -> Result<ApiKeyRecord, StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                // Waits for issuance statements that already checked this key (see `issuance_sql`).
                sqlx::query(&format!("SELECT id FROM api_keys WHERE id = $1{FOR_UPDATE}"))
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .ok_or(StoreError::NotFound)?;
                let revoked = sqlx::query(&format!(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING {API_KEY_COLUMNS}"
                ))
                .bind(id.as_str())
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
                let revoked = api_key_from(&revoked)?;
                tx.commit().await.map_err(map_err)?;
                Ok(revoked)
            }

            async fn create_connection(&self, c: &Connection, change: &Change) -> Result<(), StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                sqlx::query(&format!(
                    "INSERT INTO connections ({CONNECTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ))
                .bind(c.id.as_str())
                .bind(c.client_id.as_str())
                .bind(&c.customer_id)
                .bind(&c.retailer_id)
                .bind(&c.email)
                .bind(&c.mobile)
                .bind(c.status.as_str())
                .bind(c.created_at)
                .bind(c.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                let data = serde_json::json!({"retailer_id": c.retailer_id, "status": c.status.as_str()});
                insert_event(&mut tx, &c.id, &c.client_id, "created", change, data).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn find_connection(&self, client: &ClientId, id: &ConnectionId) -> Result<Option<Connection>, StoreError> {
                sqlx::query(&format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1 AND client_id = $2"))
                    .bind(id.as_str())
                    .bind(client.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(connection_from)
                    .transpose()
            }

            async fn list_connections(&self, client: &ClientId, customer_id: &str) -> Result<Vec<Connection>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {CONNECTION_COLUMNS} FROM connections WHERE client_id = $1 AND customer_id = $2 ORDER BY id"
                ))
                .bind(client.as_str())
                .bind(customer_id)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?
                .iter()
                .map(connection_from)
                .collect()
            }

            async fn update_connection(
                &self,
                client: &ClientId,
                id: &ConnectionId,
                patch: &ConnectionPatch,
                change: &Change,
            ) -> Result<Option<Connection>, StoreError> {
                let at = change.at;
                let mut tx = self.begin_write(WriteLock::None).await?;
                let before: Option<String> =
                    sqlx::query_scalar(&format!("SELECT status FROM connections WHERE id = $1 AND client_id = $2{FOR_UPDATE}"))
                        .bind(id.as_str())
                        .bind(client.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_err)?;
                // One statement, so concurrent patches each apply whole and never interleave.
                let updated = sqlx::query(&format!(
                    "UPDATE connections SET
                       customer_id = CASE WHEN $3 THEN $4 ELSE customer_id END,
                       email       = CASE WHEN $5 THEN $6 ELSE email END,
                       mobile      = CASE WHEN $7 THEN $8 ELSE mobile END,
                       status      = CASE WHEN $9 THEN $10 ELSE status END,
                       updated_at  = $11
                     WHERE id = $1 AND client_id = $2
                     RETURNING {CONNECTION_COLUMNS}"
                ))
                .bind(id.as_str())
                .bind(client.as_str())
                .bind(patch.customer_id.is_some())
                .bind(patch.customer_id.as_deref())
                .bind(patch.email.is_some())
                .bind(patch.email.clone().flatten())
                .bind(patch.mobile.is_some())
                .bind(patch.mobile.clone().flatten())
                .bind(patch.status.is_some())
                .bind(patch.status.map(|s| s.as_str()))
                .bind(at)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?
                .as_ref()
                .map(connection_from)
                .transpose()?;
                let Some(c) = updated else { return Ok(None) };
                let fields: Vec<&str> = [
                    ("customer_id", patch.customer_id.is_some()),
                    ("email", patch.email.is_some()),
                    ("mobile", patch.mobile.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, set)| set.then_some(name))
                .collect();
                if !fields.is_empty() {
                    insert_event(&mut tx, id, client, "updated", change, serde_json::json!({"fields": fields})).await?;
                }
                let from = before.unwrap_or_default();
                if from != c.status.as_str() {
                    let mut data = serde_json::json!({"from": from, "to": c.status.as_str()});
                    if c.status == $crate::domain::connection::ConnectionStatus::Disconnected {
                        data["tokens_revoked"] = revoke_connection_tokens(&mut tx, client, id, at).await?.into();
                    }
                    insert_event(&mut tx, id, client, "status_changed", change, data).await?;
                }
                tx.commit().await.map_err(map_err)?;
                Ok(Some(c))
            }

            async fn delete_connection(&self, client: &ClientId, id: &ConnectionId, change: &Change) -> Result<bool, StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                let done = sqlx::query("DELETE FROM connections WHERE id = $1 AND client_id = $2")
                    .bind(id.as_str())
                    .bind(client.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                let revoked = revoke_connection_tokens(&mut tx, client, id, change.at).await?;
                insert_event(&mut tx, id, client, "deleted", change, serde_json::json!({"tokens_revoked": revoked})).await?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
                sqlx::query(&format!("SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(signing_key_from)
                    .collect()
            }

            async fn insert_signing_key_if_none_active(&self, key: &SigningKeyRecord) -> Result<bool, StoreError> {
                let mut conn = self.pool.acquire().await.map_err(map_err)?;
                Ok(insert_signing_key(&mut conn, key, "ON CONFLICT DO NOTHING").await? > 0)
            }

            async fn schedule_signing_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError> {
                let mut conn = self.pool.acquire().await.map_err(map_err)?;
                Ok(insert_signing_key(&mut conn, key, "ON CONFLICT DO NOTHING").await? > 0)
            }

            async fn promote_signing_key(&self, alg: &str, now: i64) -> Result<bool, StoreError> {
                let mut tx = self.begin_write(WriteLock::Keyring).await?;
                let due: Option<String> = sqlx::query_scalar(
                    "SELECT kid FROM signing_keys WHERE alg = $1 AND state = 'next' AND activated_at <= $2",
                )
                .bind(alg)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                let Some(kid) = due else { return Ok(false) };
                sqlx::query("UPDATE signing_keys SET state = 'retired', retired_at = $2 WHERE alg = $1 AND state = 'active'")
                    .bind(alg)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                sqlx::query("UPDATE signing_keys SET state = 'active' WHERE kid = $1")
                    .bind(&kid)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn rotate_signing_key(&self, key: &SigningKeyRecord, at: i64) -> Result<(), StoreError> {
                let mut tx = self.begin_write(WriteLock::Keyring).await?;
                sqlx::query("UPDATE signing_keys SET state = 'retired', retired_at = $2 WHERE alg = $1 AND state = 'active'")
                    .bind(&key.alg)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                insert_signing_key(&mut tx, key, "").await?;
                tx.commit().await.map_err(map_err)
            }

            async fn record_tokens_issued(&self, batch: &[IssuedToken]) -> Result<Vec<Option<String>>, StoreError> {
                use $crate::storage::sql_store::MAX_ISSUANCE_ROWS;
                // One statement per up to 512 tokens decides and records them together, so a
                // stale read can never let a token through.
                let mut live = std::collections::HashMap::with_capacity(batch.len());
                for chunk in batch.chunks(MAX_ISSUANCE_ROWS) {
                    let padded = chunk.len().next_power_of_two();
                    let mut q = sqlx::query(issuance_sql(padded));
                    for t in chunk {
                        q = q.bind(t.jti.as_str()).bind(t.connection_id.as_str()).bind(t.client_id.as_str());
                        q = q.bind(t.api_key_id.as_str()).bind(t.kid.as_str()).bind(t.issued_at).bind(t.expires_at);
                    }
                    for _ in chunk.len()..padded {
                        q = q.bind(None::<&str>).bind(None::<&str>).bind(None::<&str>).bind(None::<&str>);
                        q = q.bind(None::<&str>).bind(None::<i64>).bind(None::<i64>);
                    }
                    for row in self.issue(q).await? {
                        live.insert(get::<String>(&row, "jti")?, get::<String>(&row, "customer_id")?);
                    }
                }
                Ok(batch.iter().map(|t| live.remove(t.jti.as_str())).collect())
            }

            async fn revoke_token(&self, client: &ClientId, jti: &TokenId, change: &Change) -> Result<bool, StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                let newly: Option<String> = sqlx::query_scalar(
                    "UPDATE issued_tokens SET revoked_at = $3 WHERE jti = $1 AND client_id = $2 AND revoked_at IS NULL
                     RETURNING connection_id",
                )
                .bind(jti.as_str())
                .bind(client.as_str())
                .bind(change.at)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                if let Some(connection) = newly {
                    let data = serde_json::json!({"jti": jti.as_str()});
                    insert_event(&mut tx, &ConnectionId::from_string(connection), client, "token_revoked", change, data)
                        .await?;
                    tx.commit().await.map_err(map_err)?;
                    return Ok(true);
                }
                let exists: Option<String> =
                    sqlx::query_scalar("SELECT jti FROM issued_tokens WHERE jti = $1 AND client_id = $2")
                        .bind(jti.as_str())
                        .bind(client.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_err)?;
                Ok(exists.is_some())
            }

            async fn idempotency_begin(
                &self,
                client: &ClientId,
                key: &str,
                fingerprint: &str,
                now: i64,
                lease_secs: i64,
                ttl_secs: i64,
            ) -> Result<IdempotencyState, StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                // Forget the key when it has expired, or its claim was abandoned.
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE client_id = $1 AND key = $2
                     AND (created_at <= $3 OR (status = 0 AND created_at <= $4))",
                )
                .bind(client.as_str())
                .bind(key)
                .bind(now - ttl_secs)
                .bind(now - lease_secs)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                let claimed = sqlx::query(
                    "INSERT INTO idempotency_keys (client_id, key, fingerprint, status, response, created_at)
                     VALUES ($1, $2, $3, 0, NULL, $4) ON CONFLICT DO NOTHING",
                )
                .bind(client.as_str())
                .bind(key)
                .bind(fingerprint)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected()
                    > 0;
                let state = if claimed {
                    IdempotencyState::Claimed
                } else {
                    let row = sqlx::query(
                        "SELECT fingerprint, status, response FROM idempotency_keys WHERE client_id = $1 AND key = $2",
                    )
                    .bind(client.as_str())
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let stored: String = get(&row, "fingerprint")?;
                    let status: i64 = get(&row, "status")?;
                    if stored != fingerprint {
                        IdempotencyState::Mismatch
                    } else if status == 0 {
                        IdempotencyState::InProgress
                    } else {
                        IdempotencyState::Done {
                            status: u16::try_from(status).unwrap_or(500),
                            body: get::<Option<String>>(&row, "response")?.unwrap_or_default(),
                        }
                    }
                };
                tx.commit().await.map_err(map_err)?;
                Ok(state)
            }

            async fn idempotency_finish(&self, client: &ClientId, key: &str, status: u16, body: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE idempotency_keys SET status = $3, response = $4 WHERE client_id = $1 AND key = $2")
                    .bind(client.as_str())
                    .bind(key)
                    .bind(i64::from(status))
                    .bind(body)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn idempotency_release(&self, client: &ClientId, key: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND status = 0")
                    .bind(client.as_str())
                    .bind(key)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn purge_idempotency(&self, before: i64) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at <= $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(done.rows_affected())
            }

            async fn list_events(
                &self,
                client: &ClientId,
                connection: &ConnectionId,
                before: Option<&str>,
                limit: u32,
            ) -> Result<Vec<Event>, StoreError> {
                // A token's issuance is its issued_tokens row (its jti is the event id).
                sqlx::query(
                    "SELECT id, kind, at, api_key_id, data FROM (
                         SELECT id, kind, at, api_key_id, data FROM connection_events
                         WHERE connection_id = $1 AND client_id = $2 AND ($3 IS NULL OR id < $3)
                         UNION ALL
                         SELECT jti, 'token_issued', issued_at, api_key_id,
                                '{\"jti\": \"' || jti || '\", \"exp\": ' || expires_at || '}'
                         FROM issued_tokens
                         WHERE connection_id = $1 AND client_id = $2 AND ($3 IS NULL OR jti < $3)
                     ) AS events
                     ORDER BY id DESC LIMIT $4",
                )
                .bind(connection.as_str())
                .bind(client.as_str())
                .bind(before)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?
                .iter()
                .map(event_from)
                .collect()
            }

            async fn find_issued_token(&self, jti: &TokenId) -> Result<Option<IssuedToken>, StoreError> {
                sqlx::query(&format!("SELECT {ISSUED_SELECT} FROM issued_tokens WHERE jti = $1"))
                    .bind(jti.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(issued_from)
                    .transpose()
            }
        }
    };
}

pub(crate) use sql_store;
