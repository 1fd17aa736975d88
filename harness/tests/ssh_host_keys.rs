//! A real sshd with two host keys (ed25519 and ECDSA) on a loopback port: the controller connects
//! when known_hosts holds either one of them (it asks the server for the kind known_hosts knows
//! first), and refuses a key that is not the one recorded. Needs root, for sshd.

use std::path::Path;
use std::process::{Child, Command};

use harness::control::remote::Remote as _;
use harness::control::remote::ssh::{Auth, HostKeyPolicy, SshNode, SshTarget};

/// Stops the sshd this test started, by its pid.
struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn keygen(kind: &str, path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "splitbrain-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (Debian's openssh-client)");
    assert!(status.success());
}

fn public(path: &Path) -> String {
    let text = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// An sshd on 127.0.0.1 with an ed25519 and an ECDSA host key, letting in `client`'s key.
fn sshd(dir: &Path, client: &Path) -> (Sshd, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(dir.join("authorized_keys"), public(client) + "\n").unwrap();
    let config = format!(
        "ListenAddress 127.0.0.1:{port}\nHostKey {dir}/ed25519\nHostKey {dir}/ecdsa\nPidFile none\n\
         PermitRootLogin prohibit-password\nAuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\n\
         UsePAM no\nPasswordAuthentication no\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("sshd_config"), config).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(dir.join("sshd_config"))
        .spawn()
        .expect("sshd (Debian's openssh-server; scripts/setup.sh installs it)");
    let sshd = Sshd(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (sshd, port);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("sshd did not listen on 127.0.0.1:{port}");
}

async fn reach(port: u16, client: &Path, known_hosts: &Path) -> Result<String, String> {
    let node = SshNode::new(SshTarget {
        host: "loopback".into(),
        address: "127.0.0.1".into(),
        port,
        user: "root".into(),
        auth: Auth::KeyFile(client.to_path_buf()),
        known_hosts: known_hosts.to_path_buf(),
        policy: HostKeyPolicy::Strict,
    });
    let out = node.run_quick("echo reached".into()).await.map_err(|e| harness::error::chain(&e))?;
    node.disconnect().await;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[tokio::test]
async fn a_host_is_reached_by_whichever_of_its_keys_known_hosts_holds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen("ed25519", &d.join("ed25519"));
    keygen("ecdsa", &d.join("ecdsa"));
    keygen("ecdsa", &d.join("other-ecdsa"));
    keygen("ed25519", &d.join("client"));
    let (_sshd, port) = sshd(d, &d.join("client"));
    let known = |name: &str, key: &str| {
        let path = d.join(name);
        std::fs::write(&path, format!("[127.0.0.1]:{port} {}\n", public(&d.join(key)))).unwrap();
        path
    };

    let ecdsa_only = known("known-ecdsa", "ecdsa");
    assert_eq!(
        reach(port, &d.join("client"), &ecdsa_only).await,
        Ok("reached".into()),
        "only the ECDSA key known"
    );
    let ed25519_only = known("known-ed25519", "ed25519");
    assert_eq!(
        reach(port, &d.join("client"), &ed25519_only).await,
        Ok("reached".into()),
        "only the ed25519 key known"
    );

    let wrong = known("known-wrong", "other-ecdsa");
    let refused =
        reach(port, &d.join("client"), &wrong).await.expect_err("a key that is not the recorded one");
    assert!(refused.contains("host key"), "{refused}");
}
