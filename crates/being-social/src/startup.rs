//! Wiring: adapters into ports, ports into services, services into the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use being_social_domain::services::{Ports, Services};
use being_social_http::{AppState, HttpLimits};
use being_social_infra::credentials::Argon2Credentials;
use being_social_infra::db::{CoalescedLikes, CoalescedTokens, Database};
use being_social_infra::images::{ImageLimits, RustImageProcessor};
use being_social_infra::media::LocalMediaStore;

use crate::configuration::Settings;

/// Opens the database and brings its schema up to date.
///
/// # Errors
/// A one-line message naming the setting to change.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let db = Database::open(&settings.database_url, settings.pool_size)?;
    db.migrate().await?;
    Ok(db)
}

/// Builds every adapter and the services on top of them.
///
/// # Errors
/// When the media directory cannot be created or the argon2 parameters are invalid.
pub fn build_services(settings: &Settings, db: Database) -> anyhow::Result<Services> {
    // Likes and token lookups go through coalescing adapters; see `db::batched`.
    let likes = Arc::new(CoalescedLikes::new(db.clone()));
    let tokens = Arc::new(CoalescedTokens::new(db.clone()));
    let db = Arc::new(db);
    let media = LocalMediaStore::new(settings.media_dir.clone()).with_context(|| {
        format!(
            "cannot create the media directory {} (set MEDIA_DIR)",
            settings.media_dir.display()
        )
    })?;
    let images = RustImageProcessor::new(ImageLimits {
        max_pixels: settings.max_image_pixels,
        ..ImageLimits::default()
    });
    Ok(Services::new(Ports {
        users: db.clone(),
        tokens,
        follows: db.clone(),
        posts: db.clone(),
        likes,
        comments: db.clone(),
        health: db,
        media: Arc::new(media),
        images: Arc::new(images),
        credentials: Arc::new(Argon2Credentials::default()),
    }))
}

/// A server bound to its port, not yet running.
pub struct Application {
    port: u16,
    server: Server,
    db: Database,
}

impl Application {
    /// Opens the database (applying migrations), builds the services and binds the listener.
    ///
    /// Must run inside a multi-thread tokio runtime: migrations block in place.
    ///
    /// # Errors
    /// A one-line message naming the setting to change.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let db = open_database(settings).await?;
        let services = build_services(settings, db.clone())?;
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("cannot listen on {} (set BIND)", settings.bind))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            services,
            limits: HttpLimits {
                max_upload_bytes: settings.max_upload_bytes,
                ..HttpLimits::default()
            },
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(tracing_actix_web::TracingLogger::default())
                .configure(being_social_http::configure)
        })
        .listen(listener)?
        // actix-web stops gracefully on SIGTERM but cuts requests off on SIGINT; both mean "stop
        // gracefully" here: an operator's Ctrl-C must not cut a request off half-way.
        .shutdown_signal(termination_requested())
        .shutdown_timeout(settings.shutdown_timeout);
        if let Some(workers) = settings.workers {
            server = server.workers(workers.max(1));
        }
        Ok(Self {
            port,
            server: server.run(),
            db,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the process is told to stop (SIGTERM, SIGINT, or [`Self::handle`]): the
    /// listener closes at once, in-flight requests get `shutdown_timeout` seconds to finish, then
    /// the database pool closes.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.db.close();
        tracing::info!("stopped");
        served
    }
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C elsewhere than Unix).
async fn termination_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                tracing::info!(signal = name, "stopping: finishing in-flight requests");
            }
            (Err(err), _) | (_, Err(err)) => {
                // Only a runtime without its signal driver refuses; serve on, stoppable by handle.
                tracing::warn!(error = %err, "cannot listen for SIGTERM/SIGINT");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("stopping: finishing in-flight requests");
        } else {
            std::future::pending::<()>().await;
        }
    }
}
