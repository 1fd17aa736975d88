//! [`Remote`] over SSH with russh: one persistent connection per node, at most
//! [`MAX_CHANNELS`] commands at once on it (sshd's MaxSessions is 10), reconnection with
//! back-off, host keys checked against a known_hosts file, key-file or ssh-agent authentication.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::Algorithm;
use russh::keys::agent::client::AgentClient;
use russh::keys::known_hosts::{known_host_keys_path, learn_known_hosts_path};
use russh::keys::{
    PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate, check_known_hosts_path, load_secret_key,
};
use russh::{ChannelMsg, Disconnect};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{Cmd, ExitKind, Output, Remote};
use crate::error::{Cause, Error, because};

/// Commands run at once over one connection.
pub const MAX_CHANNELS: usize = 8;
const CONNECT_ATTEMPTS: u32 = 5;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the controller proves who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// A private key file (OpenSSH format, no passphrase).
    KeyFile(PathBuf),
    /// The keys of the agent at `$SSH_AUTH_SOCK`.
    Agent,
}

/// What to do with a host key that known_hosts does not list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Refuse it (the default).
    Strict,
    /// Accept it and record it; a changed key is still refused.
    AcceptNew,
}

/// Where and how to reach one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshTarget {
    /// The node's name, used in errors.
    pub host: String,
    /// The address to connect to (a name or an IP).
    pub address: String,
    /// The SSH port.
    pub port: u16,
    /// The user to log in as.
    pub user: String,
    /// How to authenticate.
    pub auth: Auth,
    /// The known_hosts file to check host keys against.
    pub known_hosts: PathBuf,
    /// What to do with unknown host keys.
    pub policy: HostKeyPolicy,
}

impl SshTarget {
    /// A target for `host` as `~/.ssh/config` describes it (HostName, User, Port,
    /// IdentityFile), overridden by `user` and `key` when given. As OpenSSH does, it connects to
    /// the HostName (else to `host` itself) and looks the host key up under that name; without
    /// a user from either it logs in as root; without a key from either it uses the ssh-agent.
    /// known_hosts defaults to `~/.ssh/known_hosts`.
    pub fn from_ssh_config(
        host: &str,
        user: Option<&str>,
        key: Option<&Path>,
        known_hosts: Option<&Path>,
    ) -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
        let config = read_ssh_config(&home.join(".ssh/config"), host);
        SshTarget::from_config(host, &config, &home, user, key, known_hosts)
    }

    /// [`SshTarget::from_ssh_config`] with the config already read and HOME at `home`.
    fn from_config(
        host: &str,
        config: &russh_config::Config,
        home: &Path,
        user: Option<&str>,
        key: Option<&Path>,
        known_hosts: Option<&Path>,
    ) -> Self {
        let config_key = config.host_config.identity_file.as_ref().and_then(|files| files.first().cloned());
        let auth = match key.map(Path::to_path_buf).or(config_key) {
            Some(path) => Auth::KeyFile(path),
            None => Auth::Agent,
        };
        let user = user.map(str::to_string).or_else(|| config.host_config.user.clone());
        SshTarget {
            host: host.to_string(),
            address: config.host().to_string(),
            port: config.port(),
            user: user.unwrap_or_else(|| "root".into()),
            auth,
            known_hosts: known_hosts.map(Path::to_path_buf).unwrap_or_else(|| home.join(".ssh/known_hosts")),
            policy: HostKeyPolicy::Strict,
        }
    }
}

/// What the ssh config at `path` says of `host`; nothing when there is no such file.
/// Options before the first `Host` line apply to every host, as in OpenSSH (russh-config
/// refuses such a file, so they are put under a `Host *` of their own).
fn read_ssh_config(path: &Path, host: &str) -> russh_config::Config {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("ignoring {}: {e}", path.display());
            }
            return russh_config::Config::default(host);
        }
    };
    russh_config::parse(&format!("Host *\n{text}"), host).unwrap_or_else(|e| {
        tracing::warn!("ignoring {}: {e}", path.display());
        russh_config::Config::default(host)
    })
}

/// The host-key algorithms to offer a server whose keys in known_hosts are of the `known`
/// algorithms: those first (in russh's order of preference), then the rest, as OpenSSH does. A
/// server with several host keys then shows the one known_hosts holds, not the one russh likes
/// best, which known_hosts would refuse as changed.
fn host_key_algorithms(known: &[Algorithm]) -> Vec<Algorithm> {
    // An RSA key is one entry in known_hosts whatever hash its signatures use.
    let family = |a: &Algorithm| match a {
        Algorithm::Rsa { .. } => Algorithm::Rsa { hash: None },
        other => other.clone(),
    };
    let is_known = |a: &Algorithm| known.iter().any(|k| family(k) == family(a));
    let all = russh::Preferred::default().key;
    let (first, rest): (Vec<Algorithm>, Vec<Algorithm>) = all.iter().cloned().partition(is_known);
    first.into_iter().chain(rest).collect()
}

/// Checks the server's key against known_hosts and remembers why it refused one.
struct HostCheck {
    address: String,
    port: u16,
    known_hosts: PathBuf,
    policy: HostKeyPolicy,
    refusal: Arc<Mutex<Option<String>>>,
}

impl HostCheck {
    fn verdict(&self, key: &PublicKey) -> Result<(), String> {
        match check_known_hosts_path(&self.address, self.port, key, &self.known_hosts) {
            Ok(true) => Ok(()),
            Ok(false) if self.policy == HostKeyPolicy::AcceptNew => {
                learn_known_hosts_path(&self.address, self.port, key, &self.known_hosts)
                    .map_err(|e| format!("cannot record it in {}: {e}", self.known_hosts.display()))
            }
            Ok(false) => Err(format!(
                "{} is not in {} (strict checking; add it, or accept new keys)",
                self.address,
                self.known_hosts.display()
            )),
            Err(russh::keys::Error::KeyChanged { line }) => Err(format!(
                "HOST KEY MISMATCH: the key of {} differs from line {line} of {}",
                self.address,
                self.known_hosts.display()
            )),
            Err(e) => Err(format!("cannot check {}: {e}", self.known_hosts.display())),
        }
    }
}

impl client::Handler for HostCheck {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            *self.refusal.lock().expect("not poisoned") = Some("host certificates are not supported".into());
            return Ok(false);
        };
        match self.verdict(key) {
            Ok(()) => Ok(true),
            Err(why) => {
                *self.refusal.lock().expect("not poisoned") = Some(why);
                Ok(false)
            }
        }
    }
}

/// A shell kept open on a node for [`Remote::run_quick`]: scripts go to its stdin, each followed
/// by a marker line carrying the exit status.
struct Shell {
    channel: russh::Channel<client::Msg>,
    buffered: Vec<u8>,
}

/// How long a quick script may run.
const QUICK_TIMEOUT: Duration = Duration::from_secs(10);

/// A node reached over SSH.
pub struct SshNode {
    target: SshTarget,
    connection: tokio::sync::Mutex<Option<Arc<Handle<HostCheck>>>>,
    channels: Semaphore,
    shell: tokio::sync::Mutex<Option<Shell>>,
    markers: std::sync::atomic::AtomicU64,
}

impl SshNode {
    /// A node that connects on first use.
    pub fn new(target: SshTarget) -> Self {
        SshNode {
            target,
            connection: tokio::sync::Mutex::new(None),
            channels: Semaphore::new(MAX_CHANNELS),
            shell: tokio::sync::Mutex::new(None),
            markers: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The target it reaches.
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Connects now (when not connected), so that later commands pay no handshake.
    pub async fn connect(&self) -> Result<(), Error> {
        self.handle().await.map(drop)
    }

    /// Closes the connection (and the quick shell); the next command reconnects.
    pub async fn disconnect(&self) {
        if let Some(shell) = self.shell.lock().await.take() {
            let _ = shell.channel.close().await;
        }
        if let Some(handle) = self.connection.lock().await.take() {
            let _ = handle.disconnect(Disconnect::ByApplication, "", "en").await;
        }
    }

    async fn handle(&self) -> Result<Arc<Handle<HostCheck>>, Error> {
        let mut slot = self.connection.lock().await;
        if let Some(handle) = slot.as_ref().filter(|h| !h.is_closed()) {
            return Ok(handle.clone());
        }
        let mut backoff = Duration::from_millis(50);
        let mut attempt = 1;
        let handle = loop {
            match self.connect_once().await {
                Ok(handle) => break Arc::new(handle),
                Err(e @ (Error::HostKey { .. } | Error::Connect { .. })) if attempt >= CONNECT_ATTEMPTS => {
                    return Err(e);
                }
                Err(e @ Error::HostKey { .. }) => return Err(e),
                Err(Error::Connect { cause, .. }) if cause.to_string().starts_with("authentication") => {
                    return Err(Error::Connect { host: self.target.host.clone(), cause });
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    attempt += 1;
                }
            }
        };
        *slot = Some(handle.clone());
        Ok(handle)
    }

    async fn connect_once(&self) -> Result<Handle<HostCheck>, Error> {
        let t = &self.target;
        let failed = |cause: Cause| Error::Connect { host: t.host.clone(), cause };
        let refusal = Arc::new(Mutex::new(None));
        let check = HostCheck {
            address: t.address.clone(),
            port: t.port,
            known_hosts: t.known_hosts.clone(),
            policy: t.policy,
            refusal: refusal.clone(),
        };
        let known = known_host_keys_path(&t.address, t.port, &t.known_hosts).unwrap_or_default();
        let known: Vec<Algorithm> = known.into_iter().map(|(_, key)| key.algorithm()).collect();
        let preferred = russh::Preferred { key: host_key_algorithms(&known).into(), ..Default::default() };
        let config = Arc::new(client::Config {
            preferred,
            nodelay: true,
            window_size: 16 * 1024 * 1024,
            maximum_packet_size: 65535,
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(10)),
            ..client::Config::default()
        });
        let connecting = client::connect(config, (t.address.as_str(), t.port), check);
        let mut handle = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Err(_) => return Err(failed(format!("connecting to {}:{} timed out", t.address, t.port).into())),
            Ok(Err(e)) => {
                if let Some(why) = refusal.lock().expect("not poisoned").take() {
                    return Err(Error::HostKey { host: t.host.clone(), cause: why.into() });
                }
                return Err(failed(because(format!("connecting to {}:{}", t.address, t.port), e)));
            }
            Ok(Ok(handle)) => handle,
        };
        let accepted = match &t.auth {
            Auth::KeyFile(path) => {
                let key = load_secret_key(path, None).map_err(|e| {
                    failed(because(format!("authentication: cannot load key {}", path.display()), e))
                })?;
                let hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();
                handle
                    .authenticate_publickey(&t.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
                    .await
                    .map_err(|e| failed(because("authentication", e)))?
                    .success()
            }
            Auth::Agent => {
                let mut agent = AgentClient::connect_env().await.map_err(|e| {
                    failed(because(
                        "authentication: no key (--ssh-private-key, the nodes file's private_key or \
                         IdentityFile in ~/.ssh/config) and no ssh-agent ($SSH_AUTH_SOCK)",
                        e,
                    ))
                })?;
                let identities = agent
                    .request_identities()
                    .await
                    .map_err(|e| failed(because("authentication: ssh-agent", e)))?;
                if identities.is_empty() {
                    return Err(failed(
                        "authentication: the ssh-agent ($SSH_AUTH_SOCK) holds no keys (ssh-add one)".into(),
                    ));
                }
                let mut accepted = false;
                for identity in identities {
                    let key = identity.public_key().into_owned();
                    let hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();
                    if let Ok(result) =
                        handle.authenticate_publickey_with(&t.user, key, hash, &mut agent).await
                        && result.success()
                    {
                        accepted = true;
                        break;
                    }
                }
                accepted
            }
        };
        if !accepted {
            return Err(failed(format!("authentication as {} refused", t.user).into()));
        }
        Ok(handle)
    }

    async fn forget(&self, stale: &Arc<Handle<HostCheck>>) {
        let mut slot = self.connection.lock().await;
        if slot.as_ref().is_some_and(|h| Arc::ptr_eq(h, stale)) {
            *slot = None;
        }
    }
}

impl SshNode {
    async fn open_shell(&self) -> Result<Shell, Error> {
        let failed =
            |cause: Cause| Error::Transport { host: self.target.host.clone(), command: "sh".into(), cause };
        let handle = self.handle().await?;
        let channel = match handle.channel_open_session().await {
            Ok(channel) => channel,
            Err(_) => {
                self.forget(&handle).await;
                self.handle()
                    .await?
                    .channel_open_session()
                    .await
                    .map_err(|e| failed(because("open a channel", e)))?
            }
        };
        channel.exec(true, "exec /bin/sh").await.map_err(|e| failed(e.into()))?;
        Ok(Shell { channel, buffered: Vec::new() })
    }

    async fn quick(&self, shell: &mut Shell, script: &str) -> Result<Output, String> {
        let marker = format!(
            "__splitbrain_done_{}__",
            self.markers.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let input = format!("{{ {script}\n}} 2>&1 < /dev/null; echo \"{marker} $?\"\n");
        shell.channel.data(input.as_bytes()).await.map_err(|e| e.to_string())?;
        loop {
            if let Some(at) = find(&shell.buffered, marker.as_bytes()) {
                let end = shell.buffered[at..].iter().position(|&b| b == b'\n').map(|p| at + p + 1);
                if let Some(end) = end {
                    let line =
                        String::from_utf8_lossy(&shell.buffered[at + marker.len()..end]).trim().to_string();
                    let stdout = shell.buffered[..at].to_vec();
                    shell.buffered.drain(..end);
                    let exit = line.parse().map_or(ExitKind::Unknown, ExitKind::Code);
                    return Ok(Output { exit, stdout, stderr: Vec::new() });
                }
            }
            match shell.channel.wait().await {
                Some(ChannelMsg::Data { data }) => shell.buffered.extend_from_slice(&data),
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => return Err("the shell closed".into()),
                Some(_) => {}
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Remote for SshNode {
    fn host(&self) -> &str {
        &self.target.host
    }

    async fn run_quick(&self, script: String) -> Result<Output, Error> {
        let mut slot = self.shell.lock().await;
        if slot.is_none() {
            *slot = Some(self.open_shell().await?);
        }
        let shell = slot.as_mut().expect("opened above");
        let outcome = tokio::time::timeout(QUICK_TIMEOUT, self.quick(shell, &script)).await;
        let failure = match outcome {
            Ok(Ok(out)) if out.success() => return Ok(out),
            Ok(Ok(out)) => {
                return Err(Error::Command {
                    host: self.target.host.clone(),
                    command: script,
                    status: out.exit.to_string(),
                    stderr: out.stdout_text().trim().to_string(),
                });
            }
            Ok(Err(cause)) => {
                Error::Transport { host: self.target.host.clone(), command: script, cause: cause.into() }
            }
            Err(_) => {
                Error::Timeout { host: self.target.host.clone(), command: script, timeout: QUICK_TIMEOUT }
            }
        };
        if let Some(shell) = slot.take() {
            let _ = shell.channel.close().await;
        }
        Err(failure)
    }

    async fn exec(&self, cmd: &Cmd) -> Result<Output, Error> {
        let transport = |cause: Cause| Error::Transport {
            host: self.target.host.clone(),
            command: cmd.line.clone(),
            cause,
        };
        let _permit = self.channels.acquire().await.map_err(|e| transport(e.into()))?;
        let deadline = Instant::now() + cmd.timeout;
        let mut channel = {
            let handle = self.handle().await?;
            match handle.channel_open_session().await {
                Ok(channel) => channel,
                Err(_) => {
                    self.forget(&handle).await;
                    let handle = self.handle().await?;
                    handle
                        .channel_open_session()
                        .await
                        .map_err(|e| transport(because("open a channel", e)))?
                }
            }
        };
        let ran = tokio::time::timeout_at(deadline, async {
            channel.exec(true, cmd.line.as_bytes()).await?;
            if let Some(data) = &cmd.stdin {
                channel.data(&data[..]).await?;
            }
            channel.eof().await?;
            let mut out = Output { exit: ExitKind::Unknown, stdout: Vec::new(), stderr: Vec::new() };
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
                    ChannelMsg::ExitStatus { exit_status } => out.exit = ExitKind::Code(exit_status),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        out.exit = ExitKind::Signal(format!("{signal_name:?}"))
                    }
                    _ => {}
                }
            }
            Ok::<_, russh::Error>(out)
        })
        .await;
        let _ = channel.close().await;
        match ran {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(transport(e.into())),
            Err(_) => Err(Error::Timeout {
                host: self.target.host.clone(),
                command: cmd.line.clone(),
                timeout: cmd.timeout,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::{EcdsaCurve, HashAlg};

    #[test]
    fn host_key_algorithms_in_known_hosts_are_offered_first() {
        let default = russh::Preferred::default().key.to_vec();
        assert_eq!(host_key_algorithms(&[]), default, "nothing known: russh's own order");
        let p256 = Algorithm::Ecdsa { curve: EcdsaCurve::NistP256 };
        let ecdsa_first = host_key_algorithms(std::slice::from_ref(&p256));
        assert_eq!(ecdsa_first[0], p256);
        assert_eq!(ecdsa_first.len(), default.len(), "the others are still offered");
        let rsa_first = host_key_algorithms(&[Algorithm::Rsa { hash: None }]);
        assert_eq!(
            rsa_first[..3],
            [
                Algorithm::Rsa { hash: Some(HashAlg::Sha512) },
                Algorithm::Rsa { hash: Some(HashAlg::Sha256) },
                Algorithm::Rsa { hash: None }
            ],
            "every RSA signature hash, best first"
        );
    }

    fn target(config: &str, alias: &str, user: Option<&str>, key: Option<&Path>) -> SshTarget {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, config).unwrap();
        let config = read_ssh_config(&path, alias);
        SshTarget::from_config(alias, &config, Path::new("/home/op"), user, key, None)
    }

    const CONFIG: &str = "# defaults before any Host line apply to every host\nServerAliveInterval 30\n\n\
                          Host alpha\n    HostName 10.0.0.11\n    User deploy\n    Port 2222\n\n\
                          Host beta\n    HostName beta.example\n    IdentityFile /keys/beta\n";

    #[test]
    fn an_alias_connects_to_its_host_name_with_its_user_and_port_and_looks_its_key_up_there() {
        let t = target(CONFIG, "alpha", None, None);
        assert_eq!((t.host.as_str(), t.address.as_str(), t.port), ("alpha", "10.0.0.11", 2222));
        assert_eq!((t.user.as_str(), &t.auth), ("deploy", &Auth::Agent));
        assert_eq!(t.known_hosts, Path::new("/home/op/.ssh/known_hosts"));
        let t = target(CONFIG, "beta", None, None);
        assert_eq!((t.address.as_str(), t.port, t.user.as_str()), ("beta.example", 22, "root"));
        assert_eq!(t.auth, Auth::KeyFile("/keys/beta".into()));
    }

    #[test]
    fn the_caller_s_user_and_key_win_and_an_unknown_name_is_its_own_address() {
        let t = target(CONFIG, "alpha", Some("root"), Some(Path::new("/k")));
        assert_eq!((t.user.as_str(), &t.auth), ("root", &Auth::KeyFile("/k".into())));
        let t = target(CONFIG, "10.0.0.12", None, None);
        assert_eq!((t.address.as_str(), t.port, t.user.as_str()), ("10.0.0.12", 22, "root"));
        let t = target("", "gamma", None, None);
        assert_eq!((t.address.as_str(), &t.auth), ("gamma", &Auth::Agent));
        let missing = read_ssh_config(Path::new("/nonexistent/config"), "gamma");
        assert_eq!(missing.host(), "gamma");
    }
}
