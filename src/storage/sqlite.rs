//! The embedded backend: one SQLite file in WAL mode with `synchronous = FULL`, so a
//! committed transaction survives a process kill and a power loss.
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row as _, SqlitePool};

use super::{ApiKeyRecord, Client, IssuedToken, SigningKeyRecord, Store, StoreError};
use crate::auth::api_key::ApiKeyDigest;
use crate::domain::connection::{Connection, ConnectionPatch};
use crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, Kid, TokenId};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A [`Store`] on one SQLite database file.
pub struct SqliteStore {
    pool: SqlitePool,
    /// The database file; `None` for an in-memory database.
    file: Option<std::path::PathBuf>,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let file = opts.get_filename().to_path_buf();
        let in_memory =
            file.as_os_str().is_empty() || url.contains(":memory:") || url.contains("mode=memory");
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Other(format!("cannot create {}: {e}", dir.display())))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await
            .map_err(map_err)?;
        Ok(Self {
            pool,
            file: (!in_memory).then_some(file),
        })
    }
}

fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                StoreError::Conflict(db.message().to_owned())
            } else if matches!(db.code().as_deref(), Some("5" | "6" | "261" | "517")) {
                // SQLITE_BUSY / SQLITE_LOCKED and their extended codes.
                StoreError::Unavailable(db.message().to_owned())
            } else {
                StoreError::Other(db.message().to_owned())
            }
        }
        _ => StoreError::Other(e.to_string()),
    }
}

fn decode<T>(r: Result<T, sqlx::Error>) -> Result<T, StoreError> {
    r.map_err(map_err)
}

fn client_from(row: &SqliteRow) -> Result<Client, StoreError> {
    Ok(Client {
        id: ClientId::from_string(decode(row.try_get::<String, _>("id"))?),
        name: decode(row.try_get("name"))?,
        created_at: decode(row.try_get("created_at"))?,
    })
}

fn api_key_from(row: &SqliteRow) -> Result<ApiKeyRecord, StoreError> {
    let digest: Vec<u8> = decode(row.try_get("digest"))?;
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_string(decode(row.try_get::<String, _>("id"))?),
        client_id: ClientId::from_string(decode(row.try_get::<String, _>("client_id"))?),
        digest: ApiKeyDigest::from_bytes(&digest).ok_or_else(|| {
            StoreError::Other("stored API key digest has the wrong length".into())
        })?,
        created_at: decode(row.try_get("created_at"))?,
        revoked_at: decode(row.try_get("revoked_at"))?,
    })
}

fn connection_from(row: &SqliteRow) -> Result<Connection, StoreError> {
    let status: String = decode(row.try_get("status"))?;
    Ok(Connection {
        id: ConnectionId::from_string(decode(row.try_get::<String, _>("id"))?),
        client_id: ClientId::from_string(decode(row.try_get::<String, _>("client_id"))?),
        customer_id: decode(row.try_get("customer_id"))?,
        retailer_id: decode(row.try_get("retailer_id"))?,
        email: decode(row.try_get("email"))?,
        mobile: decode(row.try_get("mobile"))?,
        status: status.parse().map_err(StoreError::Other)?,
        created_at: decode(row.try_get("created_at"))?,
        updated_at: decode(row.try_get("updated_at"))?,
    })
}

fn signing_key_from(row: &SqliteRow) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        kid: Kid::from_string(decode(row.try_get::<String, _>("kid"))?),
        alg: decode(row.try_get("alg"))?,
        state: decode(row.try_get("state"))?,
        public_key: decode(row.try_get("public_key"))?,
        private_key_sealed: decode(row.try_get("private_key_sealed"))?,
        created_at: decode(row.try_get("created_at"))?,
        activated_at: decode(row.try_get("activated_at"))?,
        retired_at: decode(row.try_get("retired_at"))?,
    })
}

fn issued_from(row: &SqliteRow) -> Result<IssuedToken, StoreError> {
    Ok(IssuedToken {
        jti: TokenId::from_string(decode(row.try_get::<String, _>("jti"))?),
        connection_id: ConnectionId::from_string(decode(
            row.try_get::<String, _>("connection_id"),
        )?),
        client_id: ClientId::from_string(decode(row.try_get::<String, _>("client_id"))?),
        api_key_id: ApiKeyId::from_string(decode(row.try_get::<String, _>("api_key_id"))?),
        kid: Kid::from_string(decode(row.try_get::<String, _>("kid"))?),
        issued_at: decode(row.try_get("issued_at"))?,
        expires_at: decode(row.try_get("expires_at"))?,
    })
}

const CONNECTION_COLUMNS: &str =
    "id, client_id, customer_id, retailer_id, email, mobile, status, created_at, updated_at";

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // Processes starting together on a new file would each try to apply the migrations
        // and fail on SQLite's lock upgrade; an advisory lock on the file (independent of
        // SQLite's own locks) lets one migrate while the others wait, then find nothing to do.
        let _guard = match &self.file {
            Some(path) => Some(lock_file(path.clone()).await?),
            None => None,
        };
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO clients (id, name, created_at) VALUES (?1, ?2, ?3)")
            .bind(client.id.as_str())
            .bind(&client.name)
            .bind(client.created_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        sqlx::query("SELECT id, name, created_at FROM clients WHERE id = ?1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(client_from)
            .transpose()
    }

    async fn bootstrap_client(
        &self,
        client: &Client,
        key: &ApiKeyRecord,
    ) -> Result<bool, StoreError> {
        // BEGIN IMMEDIATE takes the write lock first, so the emptiness check and the insert
        // cannot interleave with another process doing the same.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clients")
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        if existing > 0 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO clients (id, name, created_at) VALUES (?1, ?2, ?3)")
            .bind(client.id.as_str())
            .bind(&client.name)
            .bind(client.created_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        insert_api_key(&mut tx, key).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        insert_api_key(&mut conn, key).await
    }

    async fn find_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        sqlx::query(
            "SELECT id, client_id, digest, created_at, revoked_at FROM api_keys WHERE id = ?1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(api_key_from)
        .transpose()
    }

    async fn list_api_keys(&self, client: &ClientId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        sqlx::query(
            "SELECT id, client_id, digest, created_at, revoked_at FROM api_keys
             WHERE client_id = ?1 ORDER BY id",
        )
        .bind(client.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(api_key_from)
        .collect()
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at: i64) -> Result<ApiKeyRecord, StoreError> {
        sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1
             RETURNING id, client_id, digest, created_at, revoked_at",
        )
        .bind(id.as_str())
        .bind(at)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(api_key_from)
        .transpose()?
        .ok_or(StoreError::NotFound)
    }

    async fn create_connection(&self, c: &Connection) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO connections (id, client_id, customer_id, retailer_id, email, mobile, status,
             created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(c.id.as_str())
        .bind(c.client_id.as_str())
        .bind(&c.customer_id)
        .bind(&c.retailer_id)
        .bind(&c.email)
        .bind(&c.mobile)
        .bind(c.status.as_str())
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn find_connection(
        &self,
        client: &ClientId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ?1 AND client_id = ?2"
        ))
        .bind(id.as_str())
        .bind(client.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(connection_from)
        .transpose()
    }

    async fn list_connections(
        &self,
        client: &ClientId,
        customer_id: &str,
    ) -> Result<Vec<Connection>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE client_id = ?1 AND customer_id = ?2
             ORDER BY id"
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
        at: i64,
    ) -> Result<Option<Connection>, StoreError> {
        // One statement, so concurrent patches each apply whole and never interleave.
        sqlx::query(&format!(
            "UPDATE connections SET
               customer_id = CASE WHEN ?3 THEN ?4 ELSE customer_id END,
               email       = CASE WHEN ?5 THEN ?6 ELSE email END,
               mobile      = CASE WHEN ?7 THEN ?8 ELSE mobile END,
               status      = CASE WHEN ?9 THEN ?10 ELSE status END,
               updated_at  = ?11
             WHERE id = ?1 AND client_id = ?2
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
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(connection_from)
        .transpose()
    }

    async fn delete_connection(
        &self,
        client: &ClientId,
        id: &ConnectionId,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM connections WHERE id = ?1 AND client_id = ?2")
            .bind(id.as_str())
            .bind(client.as_str())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        sqlx::query(
            "SELECT kid, alg, state, public_key, private_key_sealed, created_at, activated_at, retired_at
             FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(signing_key_from)
        .collect()
    }

    async fn insert_signing_key_if_none_active(
        &self,
        key: &SigningKeyRecord,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        let done = insert_signing_key(&mut conn, key, "ON CONFLICT DO NOTHING").await?;
        Ok(done > 0)
    }

    async fn rotate_signing_key(&self, key: &SigningKeyRecord, at: i64) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        sqlx::query("UPDATE signing_keys SET state = 'retired', retired_at = ?2 WHERE alg = ?1 AND state = 'active'")
            .bind(&key.alg)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        insert_signing_key(&mut tx, key, "").await?;
        tx.commit().await.map_err(map_err)
    }

    async fn record_tokens_issued(&self, batch: &[IssuedToken]) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        for t in batch {
            sqlx::query(
                "INSERT INTO issued_tokens (jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .bind(t.jti.as_str())
            .bind(t.connection_id.as_str())
            .bind(t.client_id.as_str())
            .bind(t.api_key_id.as_str())
            .bind(t.kid.as_str())
            .bind(t.issued_at)
            .bind(t.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn find_issued_token(&self, jti: &TokenId) -> Result<Option<IssuedToken>, StoreError> {
        sqlx::query(
            "SELECT jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at
             FROM issued_tokens WHERE jti = ?1",
        )
        .bind(jti.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(issued_from)
        .transpose()
    }
}

/// An exclusive advisory lock on `path`, held until the returned file is dropped.
async fn lock_file(path: std::path::PathBuf) -> Result<std::fs::File, StoreError> {
    tokio::task::spawn_blocking(move || {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)?;
        f.lock()?;
        Ok::<_, std::io::Error>(f)
    })
    .await
    .map_err(|e| StoreError::Other(e.to_string()))?
    .map_err(|e| StoreError::Other(format!("cannot lock the database file for migration: {e}")))
}

async fn insert_api_key(
    conn: &mut sqlx::SqliteConnection,
    key: &ApiKeyRecord,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO api_keys (id, client_id, digest, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)")
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

async fn insert_signing_key(
    conn: &mut sqlx::SqliteConnection,
    key: &SigningKeyRecord,
    on_conflict: &str,
) -> Result<u64, StoreError> {
    let done = sqlx::query(&format!(
        "INSERT INTO signing_keys (kid, alg, state, public_key, private_key_sealed, created_at, activated_at, retired_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) {on_conflict}"
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
