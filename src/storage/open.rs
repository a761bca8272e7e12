//! Opening a store: the backend a database URL names, migrated, behind the time limit.
use std::sync::Arc;

use super::{Backend, DbOptions, Store, StoreError, postgres, sqlite, timed};

/// Opens the store a database URL names (creating it if missing), and migrates it.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    connect_with(url, &DbOptions::default()).await
}

/// [`connect`] with explicit pool and timeout settings.
pub async fn connect_with(url: &str, options: &DbOptions) -> Result<Arc<dyn Store>, StoreError> {
    Ok(connect_and_migrate(url, options).await?.0)
}

/// [`connect_with`], also returning the migrations this call applied (`"0007 connectors"`).
pub async fn connect_and_migrate(url: &str, options: &DbOptions) -> Result<(Arc<dyn Store>, Vec<String>), StoreError> {
    let store: Arc<dyn Store> = match Backend::of(url)? {
        Backend::Sqlite => Arc::new(sqlite::SqliteStore::connect(url, options).await?),
        Backend::Postgres => Arc::new(postgres::PostgresStore::connect(url, options).await?),
    };
    if !options.create && !store.is_initialized().await? {
        return Err(StoreError::Setup(
            "the database holds no tessera data: check the database URL, or run `tessera migrate` (or `tessera \
             serve`) on it first"
                .into(),
        ));
    }
    let applied = store.migrate().await?;
    Ok((Arc::new(timed::Timed::new(store, options.timeout)), applied))
}
