//! The CRI over containerd's gRPC socket: tonic's generated clients from the
//! `k8s-cri` crate (runtime.v1), each call blocking on a current-thread tokio
//! runtime with a deadline, so the test itself reads as plain sequential code.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

pub type Rs = RuntimeServiceClient<Channel>;
pub type Is = ImageServiceClient<Channel>;

/// What one call may take; a pull of our small images or a StopContainer
/// with its timeout stay far below.
const DEADLINE: Duration = Duration::from_secs(120);

pub struct Cri {
    rt: tokio::runtime::Runtime,
    rs: Rs,
    is: Is,
}

impl Cri {
    /// Connects to containerd's socket as the kubelet does (a unix socket,
    /// HTTP/2 without TLS).
    pub fn connect(socket: &str) -> Result<Cri> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let path = PathBuf::from(socket);
        let channel = rt
            .block_on(async {
                // The authority is ignored: every connection goes to the socket.
                Endpoint::try_from("http://localhost")?
                    .connect_timeout(Duration::from_secs(10))
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let path = path.clone();
                        async move {
                            Ok::<_, std::io::Error>(TokioIo::new(
                                tokio::net::UnixStream::connect(path).await?,
                            ))
                        }
                    }))
                    .await
            })
            .with_context(|| format!("connecting to {socket}"))?;
        Ok(Cri {
            rt,
            rs: RuntimeServiceClient::new(channel.clone()),
            is: ImageServiceClient::new(channel),
        })
    }

    fn wait<T, Fut>(&self, what: &str, fut: Fut) -> Result<T>
    where
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match self
            .rt
            .block_on(async { tokio::time::timeout(DEADLINE, fut).await })
        {
            Err(_) => bail!("{what}: no answer in {} s", DEADLINE.as_secs()),
            Ok(Err(status)) => Err(anyhow!("{what}: {:?}: {}", status.code(), status.message())),
            Ok(Ok(resp)) => Ok(resp.into_inner()),
        }
    }

    /// A call on the runtime service: `cri.rs("Version", |mut c| async move { c.version(req).await })`.
    pub fn rs<T, F, Fut>(&self, what: &str, f: F) -> Result<T>
    where
        F: FnOnce(Rs) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.wait(what, f(self.rs.clone()))
    }

    /// A call on the image service.
    pub fn is<T, F, Fut>(&self, what: &str, f: F) -> Result<T>
    where
        F: FnOnce(Is) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.wait(what, f(self.is.clone()))
    }

    /// A runtime-service client of the same channel, for calls made
    /// concurrently (each clone multiplexes over the one HTTP/2 connection).
    pub fn client(&self) -> Rs {
        self.rs.clone()
    }

    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    // The calls the test makes over and over.

    pub fn exec_sync(&self, id: &str, cmd: &[&str], timeout: i64) -> Result<cri::ExecSyncResponse> {
        let req = cri::ExecSyncRequest {
            container_id: id.to_string(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout,
        };
        self.rs("ExecSync", |mut c| async move { c.exec_sync(req).await })
    }

    /// `sh -c SCRIPT` in the container through ExecSync: its stdout, trimmed,
    /// or an error with its exit code and stderr.
    pub fn sh(&self, id: &str, script: &str) -> Result<String> {
        let r = self.exec_sync(id, &["sh", "-c", script], 30)?;
        if r.exit_code != 0 {
            bail!(
                "`{script}` exited {}: stdout {:?}, stderr {:?}",
                r.exit_code,
                String::from_utf8_lossy(&r.stdout),
                String::from_utf8_lossy(&r.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&r.stdout).trim().to_string())
    }

    pub fn container_status(
        &self,
        id: &str,
        verbose: bool,
    ) -> Result<cri::ContainerStatusResponse> {
        let req = cri::ContainerStatusRequest {
            container_id: id.to_string(),
            verbose,
        };
        self.rs("ContainerStatus", |mut c| async move {
            c.container_status(req).await
        })
    }

    pub fn pod_status(&self, id: &str, verbose: bool) -> Result<cri::PodSandboxStatusResponse> {
        let req = cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.to_string(),
            verbose,
        };
        self.rs("PodSandboxStatus", |mut c| async move {
            c.pod_sandbox_status(req).await
        })
    }

    pub fn list_pods(&self, filter: cri::PodSandboxFilter) -> Result<Vec<cri::PodSandbox>> {
        let req = cri::ListPodSandboxRequest {
            filter: Some(filter),
        };
        Ok(self
            .rs("ListPodSandbox", |mut c| async move {
                c.list_pod_sandbox(req).await
            })?
            .items)
    }

    pub fn list_containers(&self, filter: cri::ContainerFilter) -> Result<Vec<cri::Container>> {
        let req = cri::ListContainersRequest {
            filter: Some(filter),
        };
        Ok(self
            .rs("ListContainers", |mut c| async move {
                c.list_containers(req).await
            })?
            .containers)
    }

    pub fn stop_container(&self, id: &str, timeout: i64) -> Result<()> {
        let req = cri::StopContainerRequest {
            container_id: id.to_string(),
            timeout,
        };
        self.rs("StopContainer", |mut c| async move {
            c.stop_container(req).await
        })?;
        Ok(())
    }

    pub fn stop_pod(&self, id: &str) -> Result<()> {
        let req = cri::StopPodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        };
        self.rs("StopPodSandbox", |mut c| async move {
            c.stop_pod_sandbox(req).await
        })?;
        Ok(())
    }

    pub fn remove_pod(&self, id: &str) -> Result<()> {
        let req = cri::RemovePodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        };
        self.rs("RemovePodSandbox", |mut c| async move {
            c.remove_pod_sandbox(req).await
        })?;
        Ok(())
    }
}
