//! `deploy/`: the GitHub Actions workflow, the Kubernetes manifests and the image that run the
//! nightly campaign in shards, checked as far as they can be without GitHub or a cluster. Each
//! file goes through its linter (actionlint; kubernetes-validate `--strict` against the oldest
//! and the newest Kubernetes they are meant for; hadolint; shellcheck on every script they
//! embed), and each linter is shown to refuse a broken copy, so a linter that does not run
//! cannot pass. The facts that tie the files together are checked too (one shard count, every
//! shard listed, the same campaign file, volume and image, the values the schemas leave open),
//! and the embedded scripts are run for real on a small campaign in the simulator, to show that
//! a shard that finds an invalid run still passes and the merge's exit code is the campaign's.
//!
//! The linters come from PyPI through `scripts/lint-tools.sh` (into `target/lint-venv`) and
//! shellcheck from Debian; a missing one fails the test with how to install it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

const WORKFLOW: &str = "deploy/github/campaign.yml";
const CAMPAIGN_JOB: &str = "deploy/kubernetes/campaign-job.yaml";
const MERGE_JOB: &str = "deploy/kubernetes/merge-job.yaml";
const REPORT_POD: &str = "deploy/kubernetes/report-pod.yaml";
const PVC: &str = "deploy/kubernetes/pvc.yaml";
const MANIFESTS: [&str; 4] = [PVC, CAMPAIGN_JOB, MERGE_JOB, REPORT_POD];
const DOCKERFILE: &str = "deploy/Dockerfile";

/// The oldest Kubernetes the manifests are for (`backoffLimitPerIndex` is on by default from
/// 1.29), and the newest the pinned kubernetes-validate knows.
const KUBERNETES: [&str; 2] = ["1.29.0", "1.37.0"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

fn read(file: &str) -> String {
    std::fs::read_to_string(repo().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

/// A linter that `scripts/lint-tools.sh` installs; its absence fails the test.
fn linter(name: &str) -> PathBuf {
    let path = repo().join("target/lint-venv/bin").join(name);
    assert!(
        path.is_file(),
        "{name} is missing: run ./scripts/lint-tools.sh (./scripts/test.sh does), which installs the \
         linters of deploy/ from PyPI into target/lint-venv"
    );
    path
}

fn shellcheck() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("shellcheck"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "shellcheck is missing: apt-get install shellcheck (./scripts/test.sh has \
                 ./scripts/setup.sh install it)"
            )
        })
}

/// Runs `command`: its exit code and what it printed, both streams.
fn run(command: &mut Command) -> (Option<i32>, String) {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// Writes `text` as `name` in `dir` and returns its path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `text` with `from` replaced by `to`, which must occur.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the text to break");
    text.replacen(from, to, 1)
}

#[test]
fn actionlint_passes_the_workflow_and_refuses_a_broken_copy() {
    let actionlint = linter("actionlint");
    let lint = |file: &Path| {
        run(Command::new(&actionlint).arg("-no-color").arg("-shellcheck").arg(shellcheck()).arg(file))
    };
    let (code, output) = lint(&repo().join(WORKFLOW));
    assert_eq!(code, Some(0), "actionlint on {WORKFLOW}:\n{output}");

    let dir = tempfile::tempdir().unwrap();
    let broken = replaced(&read(WORKFLOW), "needs: [build, shard]", "needs: [build, shards]");
    let (code, output) = lint(&write(dir.path(), "campaign.yml", &broken));
    assert_eq!(code, Some(1), "a merge job that needs a job that does not exist:\n{output}");
    assert!(output.contains("needs job \"shards\" which does not exist"), "{output}");
}

#[test]
fn kubernetes_validate_passes_the_manifests_and_refuses_a_broken_copy() {
    let validate = linter("kubernetes-validate");
    let check = |version: &str, strict: bool, files: &[PathBuf]| {
        let mut command = Command::new(&validate);
        command.args(["--quiet", "--kubernetes-version", version]);
        if strict {
            command.arg("--strict");
        }
        run(command.args(files))
    };
    let manifests: Vec<PathBuf> = MANIFESTS.iter().map(|m| repo().join(m)).collect();
    for version in KUBERNETES {
        let (code, output) = check(version, true, &manifests);
        assert_eq!(code, Some(0), "{MANIFESTS:?} against Kubernetes {version}:\n{output}");
    }

    // A misspelt field: only --strict refuses it, so --strict is what the check above uses.
    let dir = tempfile::tempdir().unwrap();
    let broken = replaced(&read(CAMPAIGN_JOB), "  completions: 4", "  completion: 4");
    let broken = [write(dir.path(), "campaign-job.yaml", &broken)];
    for version in KUBERNETES {
        let (code, output) = check(version, true, &broken);
        assert_eq!(code, Some(1), "a Job with `completion:` against {version}:\n{output}");
        assert!(output.contains("'completion' was unexpected"), "{output}");
        let (code, output) = check(version, false, &broken);
        assert_eq!(code, Some(0), "without --strict an unknown field passes:\n{output}");
    }
}

#[test]
fn hadolint_passes_the_dockerfile_and_refuses_a_broken_copy() {
    let hadolint = linter("hadolint");
    let (code, output) = run(Command::new(&hadolint).arg("--no-color").arg(repo().join(DOCKERFILE)));
    assert_eq!(code, Some(0), "hadolint on {DOCKERFILE}:\n{output}");

    let dir = tempfile::tempdir().unwrap();
    let broken = replaced(&read(DOCKERFILE), "FROM debian:bookworm-slim", "FROM debian");
    let (code, output) =
        run(Command::new(&hadolint).arg("--no-color").arg(write(dir.path(), "Dockerfile", &broken)));
    assert_eq!(code, Some(1), "an image without a tag:\n{output}");
    assert!(output.contains("DL3006"), "{output}");
}

/// The scripts the workflow runs: every step's `run:`, named `job/step`.
fn workflow_scripts(workflow: &Value) -> Vec<(String, String)> {
    let mut scripts = Vec::new();
    for (job, spec) in workflow["jobs"].as_mapping().expect("jobs") {
        let job = job.as_str().unwrap();
        for (i, step) in spec["steps"].as_sequence().expect("steps").iter().enumerate() {
            if let Some(script) = step["run"].as_str() {
                let name = step["name"].as_str().map_or_else(|| i.to_string(), str::to_string);
                scripts.push((format!("{job}/{name}"), script.to_string()));
            }
        }
    }
    scripts
}

/// The pod spec of a Job's or a Pod's manifest.
fn pod_spec(manifest: &Value) -> &Value {
    match manifest["kind"].as_str() {
        Some("Job") => &manifest["spec"]["template"]["spec"],
        _ => &manifest["spec"],
    }
}

/// The containers of a Job's or a Pod's manifest.
fn containers(manifest: &Value) -> &Vec<Value> {
    pod_spec(manifest)["containers"].as_sequence().expect("containers")
}

/// The script of a container that runs `/bin/bash -c SCRIPT`.
fn container_script(manifest: &Value) -> String {
    let container = &containers(manifest)[0];
    assert_eq!(container["command"], yaml("[/bin/bash, -c]"), "{container:?}");
    container["args"][0].as_str().expect("the script").to_string()
}

/// The step of `job` called `name`.
fn step<'a>(workflow: &'a Value, job: &str, name: &str) -> &'a Value {
    let steps = workflow["jobs"][job]["steps"].as_sequence().expect("steps");
    steps
        .iter()
        .find(|s| s["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("{job}: no step {name:?}"))
}

#[test]
fn shellcheck_passes_every_embedded_script_and_refuses_a_broken_copy() {
    let workflow = yaml(&read(WORKFLOW));
    let mut scripts = workflow_scripts(&workflow);
    assert!(scripts.len() >= 6, "the workflow's scripts: {scripts:?}");
    for (name, script) in &scripts {
        // Values reach scripts through `env:`, never spliced into the script's text.
        assert!(!script.contains("${{"), "{name} splices an expression into its script");
    }
    for manifest in [CAMPAIGN_JOB, MERGE_JOB] {
        scripts.push((manifest.to_string(), container_script(&yaml(&read(manifest)))));
    }

    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = scripts
        .iter()
        .enumerate()
        .map(|(i, (_, script))| {
            write(dir.path(), &format!("{i}.sh"), &format!("#!/usr/bin/env bash\n{script}"))
        })
        .collect();
    let (code, output) = run(Command::new(shellcheck()).arg("--shell=bash").args(&files));
    let names: Vec<&str> = scripts.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(code, Some(0), "shellcheck on {names:?} (files 0.sh... in that order):\n{output}");

    let broken = replaced(&scripts.last().unwrap().1, "rm -rf /results/report", "rm -rf $RESULTS/report");
    let (code, output) = run(Command::new(shellcheck()).arg("--shell=bash").arg(write(
        dir.path(),
        "broken.sh",
        &format!("#!/usr/bin/env bash\n{broken}"),
    )));
    assert_eq!(code, Some(1), "an unquoted path in the merge script:\n{output}");
    assert!(output.contains("SC2086"), "{output}");
}

/// What the Kubernetes schemas leave open in the campaign Job (they list no allowed values):
/// the completion mode, the restart policy a pod failure policy needs, and its actions.
fn job_values(job: &Value) -> Result<(), String> {
    let spec = &job["spec"];
    if spec["completionMode"].as_str() != Some("Indexed") {
        return Err(format!("completionMode is {:?}, not Indexed", spec["completionMode"]));
    }
    if spec["template"]["spec"]["restartPolicy"].as_str() != Some("Never") {
        return Err("a Job with a podFailurePolicy needs restartPolicy: Never".into());
    }
    for rule in spec["podFailurePolicy"]["rules"].as_sequence().into_iter().flatten() {
        let action = rule["action"].as_str().unwrap_or_default();
        if !["FailJob", "FailIndex", "Ignore", "Count"].contains(&action) {
            return Err(format!("podFailurePolicy action {action:?} is not one batch/v1 knows"));
        }
    }
    Ok(())
}

#[test]
fn the_campaign_job_has_values_the_schemas_do_not_check() {
    let job = read(CAMPAIGN_JOB);
    assert_eq!(job_values(&yaml(&job)), Ok(()));
    for (from, to, why) in [
        ("completionMode: Indexed", "completionMode: Bogus", "completionMode"),
        ("restartPolicy: Never", "restartPolicy: OnFailure", "restartPolicy"),
        ("- action: FailJob", "- action: Retry", "\"Retry\""),
    ] {
        let refused = job_values(&yaml(&replaced(&job, from, to)));
        assert!(refused.as_ref().is_err_and(|e| e.contains(why)), "{to}: {refused:?}");
    }
}

/// The shard count of the workflow, after checking that its matrix lists shards 1 to N and that
/// its shard step runs shard `$SHARD/$SHARDS` of `$CAMPAIGN`.
fn workflow_shards(workflow: &Value) -> u64 {
    let n = workflow["env"]["SHARDS"].as_u64().expect("env SHARDS");
    let matrix: Vec<u64> = workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"]
        .as_sequence()
        .expect("the shard matrix")
        .iter()
        .map(|k| k.as_u64().expect("a shard number"))
        .collect();
    assert_eq!(matrix, (1..=n).collect::<Vec<_>>(), "the matrix lists every shard 1..={n} once");
    assert_eq!(workflow["jobs"]["shard"]["env"]["SHARD"].as_str(), Some("${{ matrix.shard }}"));
    let script = step(workflow, "shard", "Run the shard")["run"].as_str().unwrap();
    assert!(script.contains(r#"campaign "$CAMPAIGN" --shard "$SHARD/$SHARDS""#), "{script}");
    n
}

/// The campaign Job's env value `name`.
fn job_env(job: &Value, name: &str) -> String {
    let env = containers(job)[0]["env"].as_sequence().expect("env");
    let var =
        env.iter().find(|v| v["name"].as_str() == Some(name)).unwrap_or_else(|| panic!("no env {name}"));
    var["value"].as_str().expect("a string value").to_string()
}

#[test]
fn the_workflow_and_the_manifests_agree() {
    let workflow = yaml(&read(WORKFLOW));
    let job = yaml(&read(CAMPAIGN_JOB));
    let merge = yaml(&read(MERGE_JOB));
    let pod = yaml(&read(REPORT_POD));
    let pvc = yaml(&read(PVC));

    // One shard count: the matrix, the workflow's --shard, the Job's completions and pods.
    let n = workflow_shards(&workflow);
    assert_eq!(job["spec"]["completions"].as_u64(), Some(n), "the Job's completions");
    assert_eq!(job["spec"]["parallelism"].as_u64(), Some(n), "the Job's parallelism");
    assert_eq!(job_env(&job, "SHARDS"), n.to_string());
    let shard_script = container_script(&job);
    assert!(shard_script.contains("shard=$((JOB_COMPLETION_INDEX + 1))"), "{shard_script}");
    assert!(shard_script.contains(r#"campaign "$CAMPAIGN" --shard "$shard/$SHARDS""#), "{shard_script}");

    // One campaign file, and it exists.
    let campaign = workflow["env"]["CAMPAIGN"].as_str().expect("env CAMPAIGN");
    assert_eq!(job_env(&job, "CAMPAIGN"), campaign);
    assert!(repo().join(campaign).is_file(), "{campaign} does not exist");

    // The shards' stores are what the merge reads, and its output what the pod serves.
    let merge_script = container_script(&merge);
    let words: Vec<&str> = merge_script.split_whitespace().collect();
    let at = words.windows(2).position(|w| w == ["campaign", "merge"]).expect("campaign merge");
    let (input, out) = (words[at + 2], words[at + 4]);
    assert_eq!(words[at + 3], "--out", "{merge_script}");
    assert!(shard_script.contains(&format!("store=\"{input}/shard-$shard\"")), "{shard_script}");
    let serve: Vec<&str> =
        containers(&pod)[0]["args"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(serve.windows(2).find(|w| w[0] == "--store").map(|w| w[1]), Some(out), "{serve:?}");

    // One volume, one image.
    let claim = pvc["metadata"]["name"].as_str().unwrap();
    assert_eq!(pvc["spec"]["accessModes"], yaml("[ReadWriteMany]"), "the shards' pods write at once");
    for manifest in [&job, &merge, &pod] {
        assert_eq!(
            pod_spec(manifest)["volumes"][0]["persistentVolumeClaim"]["claimName"].as_str(),
            Some(claim)
        );
        assert_eq!(containers(manifest)[0]["volumeMounts"][0]["mountPath"].as_str(), Some("/results"));
        assert_eq!(containers(manifest)[0]["image"], containers(&job)[0]["image"], "one image");
    }
    assert_eq!(
        containers(&job)[0]["securityContext"]["privileged"].as_bool(),
        Some(true),
        "network namespaces"
    );

    // Each shard uploads what the merge job downloads.
    let upload = &workflow["jobs"]["shard"]["steps"].as_sequence().unwrap().last().unwrap()["with"];
    let merging = step(&workflow, "merge", "Merge the shards")["run"].as_str().unwrap();
    assert!(merging.contains("campaign merge shards --out report"), "{merging}");
    let download = workflow["jobs"]["merge"]["steps"].as_sequence().unwrap()[1]["with"].clone();
    let prefix = download["pattern"].as_str().unwrap().strip_suffix('*').unwrap();
    assert_eq!(upload["name"].as_str(), Some(format!("{prefix}${{{{ matrix.shard }}}}").as_str()));
    assert_eq!(download["path"].as_str(), Some("shards"));
}

#[test]
fn the_image_has_the_packages_of_setup_sh() {
    let setup = read("scripts/setup.sh");
    let line = setup.lines().find(|l| l.starts_with("packages=(")).expect("setup.sh's packages=(...)");
    let wanted: BTreeSet<&str> = line
        .trim_start_matches("packages=(")
        .trim_end_matches(')')
        .split_whitespace()
        .filter(|p| !p.starts_with('"') && *p != "protobuf-compiler")
        .collect();
    assert!(wanted.contains("iproute2"), "{wanted:?}");
    let dockerfile = read(DOCKERFILE);
    let last_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    let install = last_stage.lines().find(|l| l.contains("apt-get install")).expect("apt-get install");
    let installed: BTreeSet<&str> = install.split_whitespace().collect();
    let missing: Vec<_> = wanted.difference(&installed).collect();
    assert!(missing.is_empty(), "the image lacks {missing:?} of scripts/setup.sh");
}

fn splitbrain(args: &[&str]) -> Vec<String> {
    let (code, output) = run(Command::new(env!("CARGO_BIN_EXE_splitbrain")).args(args));
    assert_eq!(code, Some(0), "splitbrain {args:?}:\n{output}");
    output.lines().map(str::to_string).collect()
}

#[test]
fn the_shards_of_the_deployed_campaign_hold_every_run_once() {
    let workflow = yaml(&read(WORKFLOW));
    let n = workflow_shards(&workflow);
    let campaign = repo().join(workflow["env"]["CAMPAIGN"].as_str().unwrap());
    let campaign = campaign.to_str().unwrap();
    let all = splitbrain(&["campaign", campaign, "--list"]);
    let mut seen = BTreeSet::new();
    for k in 1..=n {
        let store = tempfile::tempdir().unwrap();
        let shard = format!("{k}/{n}");
        let listed = splitbrain(&[
            "campaign",
            campaign,
            "--shard",
            &shard,
            "--store",
            store.path().to_str().unwrap(),
            "--list",
        ]);
        assert!(!listed.is_empty(), "shard {shard} has no run: its runner would idle");
        for run in listed {
            assert!(all.contains(&run), "{run} of shard {shard} is not a run of {campaign}");
            assert!(seen.insert(run.clone()), "{run} is in two shards");
        }
    }
    assert_eq!(seen.len(), all.len(), "every run of {campaign} is in a shard");
}

/// A campaign of the seeds' group small enough to run often in the simulator, with a
/// deliberate bug so that some of its runs are invalid.
const TINY: &str = include_str!("fixtures/tiny-campaign.yaml");

/// The tiny campaign's file in `dir`, and its exit code when it runs whole (it must be invalid).
fn tiny(dir: &Path) -> PathBuf {
    let file = write(dir, "tiny.yaml", TINY);
    let store = dir.join("whole");
    let (code, output) = run(Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["campaign", "--sim", "--store"])
        .arg(&store)
        .arg(&file));
    assert_eq!(code, Some(1), "the tiny campaign has invalid runs:\n{output}");
    file
}

/// Runs a workflow step's script as GitHub does (`bash --noprofile --norc -eo pipefail FILE`)
/// in `dir`, with `env`.
fn run_step(
    workflow: &Value,
    job: &str,
    name: &str,
    dir: &Path,
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let script = write(dir, "step.sh", step(workflow, job, name)["run"].as_str().unwrap());
    run(Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(script)
        .current_dir(dir)
        .envs(env.iter().copied()))
}

#[test]
fn the_workflow_scripts_pass_an_invalid_shard_and_fail_the_merge() {
    let workflow = yaml(&read(WORKFLOW));
    let n = workflow_shards(&workflow).to_string();
    let dir = tempfile::tempdir().unwrap();
    let campaign = tiny(dir.path());
    let campaign = campaign.to_str().unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_splitbrain"));
    let merger = dir.path().join("merge");
    let mut exits = Vec::new();
    for k in 1..=n.parse().unwrap() {
        // Shard K's runner: the binaries unpacked in bin/, then its steps.
        let runner = dir.path().join(format!("runner-{k}"));
        std::fs::create_dir_all(runner.join("bin")).unwrap();
        std::os::unix::fs::symlink(binary, runner.join("bin/splitbrain")).unwrap();
        let summary = runner.join("summary.md");
        let k = k.to_string();
        let env = [
            ("CAMPAIGN", campaign),
            ("SHARDS", n.as_str()),
            ("SHARD", k.as_str()),
            ("SIM", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ];
        let (code, output) = run_step(&workflow, "shard", "Run the shard", &runner, &env);
        assert_eq!(code, Some(0), "shard {k}/{n} ran to its verdict:\n{output}");
        exits.push(std::fs::read_to_string(&summary).unwrap());
        let (code, output) = run_step(&workflow, "shard", "Pack the store", &runner, &env);
        assert_eq!(code, Some(0), "{output}");
        // What the merge job's download makes of the artifact store-shard-K.
        let artifact = merger.join(format!("shards/store-shard-{k}"));
        std::fs::create_dir_all(&artifact).unwrap();
        let tar = format!("store-shard-{k}.tar");
        std::fs::copy(runner.join(&tar), artifact.join(&tar)).unwrap();
    }
    let exited_1 = exits.iter().filter(|s| s.contains("splitbrain exited 1")).count();
    assert!(exited_1 > 0, "some shard found an invalid run and still passed: {exits:?}");

    let (code, output) = run(Command::new("tar")
        .arg("-cf")
        .arg(merger.join("binaries.tar"))
        .arg("-C")
        .arg(binary.parent().unwrap())
        .arg("splitbrain"));
    assert_eq!(code, Some(0), "{output}");
    let summary = merger.join("summary.md");
    let env = [("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())];
    let (code, output) = run_step(&workflow, "merge", "Merge the shards", &merger, &env);
    assert_eq!(code, Some(1), "the merge exits as the whole campaign does:\n{output}");
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(summary.contains("12 runs: 9 valid, 3 invalid"), "the job's summary: {summary}");
    assert!(merger.join("report/campaign.html").is_file());
}

/// Runs a manifest's script with `/results` moved to `results` and `splitbrain` on the PATH
/// running the campaign in the simulator.
fn run_container(script: &str, results: &Path, shim: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let script = script.replace("/results", results.to_str().unwrap());
    let path = format!("{}:{}", shim.display(), std::env::var("PATH").unwrap_or_default());
    run(Command::new("bash").arg("-c").arg(script).env("PATH", path).envs(env.iter().copied()))
}

#[test]
fn the_kubernetes_scripts_complete_an_invalid_shard_and_fail_the_merge() {
    let job = yaml(&read(CAMPAIGN_JOB));
    let n: u64 = job_env(&job, "SHARDS").parse().unwrap();
    let (shard_script, merge_script) = (container_script(&job), container_script(&yaml(&read(MERGE_JOB))));
    let dir = tempfile::tempdir().unwrap();
    let campaign = tiny(dir.path());
    let campaign = campaign.to_str().unwrap();
    let shim = dir.path().join("bin");
    std::fs::create_dir_all(&shim).unwrap();
    let splitbrain = write(
        &shim,
        "splitbrain",
        &format!(
            "#!/usr/bin/env bash\nif [ \"$2\" = merge ]; then exec {0} \"$@\"; fi\nexec {0} \"$@\" --sim\n",
            env!("CARGO_BIN_EXE_splitbrain")
        ),
    );
    std::fs::set_permissions(&splitbrain, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let results = dir.path().join("results");
    let n_text = n.to_string();
    let shards = |count: u64| {
        let mut exits = Vec::new();
        for index in 0..count {
            let index = index.to_string();
            let env = [
                ("JOB_COMPLETION_INDEX", index.as_str()),
                ("CAMPAIGN", campaign),
                ("SHARDS", n_text.as_str()),
            ];
            let (code, output) = run_container(&shard_script, &results, &shim, &env);
            assert_eq!(code, Some(0), "pod {index} ran to its verdict:\n{output}");
            exits.push(output);
        }
        exits
    };

    // An earlier attempt's leftovers in a shard's folder are gone when the shard starts over.
    std::fs::create_dir_all(results.join("shards/shard-1")).unwrap();
    write(&results.join("shards/shard-1"), "leftover", "");
    let exits = shards(n);
    assert!(!results.join("shards/shard-1/leftover").exists());
    assert!(
        exits.iter().any(|output| output.contains("splitbrain exited 1")),
        "some pod's shard was invalid"
    );
    let (code, output) = run_container(&merge_script, &results, &shim, &[]);
    assert_eq!(code, Some(1), "the merge exits as the whole campaign does:\n{output}");
    assert!(output.contains("12 runs: 9 valid, 3 invalid"), "{output}");
    assert!(results.join("report/campaign.html").is_file());
    assert!(!results.join("shards").exists(), "a merge of every shard removes the shards' stores");

    // The next campaign, one shard short: the merge replaces the report, fails, keeps the shards.
    shards(n - 1);
    let (code, output) = run_container(&merge_script, &results, &shim, &[]);
    assert_eq!(code, Some(255), "a missing shard:\n{output}");
    assert!(output.contains(&format!("shard {n}/{n}: missing")), "{output}");
    assert!(results.join("shards/shard-1").is_dir(), "the shards are kept to be looked at");
}
