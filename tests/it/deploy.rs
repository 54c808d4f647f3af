//! The cluster and monitoring files under deploy/: parsed and checked for the structure that
//! makes them work (no Kubernetes or Prometheus here; deploy/slurm has a real-cluster test in
//! deploy/slurm/test-local-cluster.sh, which .ci/run runs).

use std::path::Path;
use yaml_rust2::{Yaml, YamlLoader};

fn load(path: &str) -> Yaml {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}")).remove(0)
}

#[test]
fn the_kubernetes_indexed_job_shards_by_completion_index() {
    let job = load("deploy/kubernetes/hued-indexed-job.yaml");
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_i64().unwrap();
    assert!(spec["parallelism"].as_i64().unwrap() <= completions);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"), "an Indexed Job's pods must not restart in place");
    let container = &pod["containers"][0];
    let script = container["args"][0].as_str().unwrap();
    assert!(script.contains("--shard auto") && script.contains(&format!("--shards {completions}")), "--shards must equal completions: {script}");
    assert!(script.contains("${JOB_COMPLETION_INDEX}") && script.contains("--report"), "{script}");
    let limit = container["resources"]["limits"]["memory"].as_str().unwrap();
    assert_eq!(limit, "2Gi", "sized for the 1.5 GB memory budget");
    let mount = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
    assert!(script.contains(mount), "the archive is read from its volume");
    assert_eq!(pod["volumes"][0]["name"], container["volumeMounts"][0]["name"]);
}

#[test]
fn the_containerfile_installs_the_deb() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Containerfile")).unwrap();
    assert!(text.lines().any(|l| l.starts_with("FROM debian:")));
    assert!(text.contains("apt-get install -y --no-install-recommends /tmp/hued.deb"));
    assert!(text.contains("ENTRYPOINT [\"hued\"]"));
    assert!(text.lines().any(|l| l.starts_with("USER ") && !l.contains("root")), "not run as root");
}

#[test]
fn the_prometheus_alerts_use_metrics_hued_exports() {
    let rules = load("deploy/prometheus/hued-alerts.yml");
    let exported = hued::metrics::global().render();
    let mut alerts = Vec::new();
    for rule in rules["groups"][0]["rules"].as_vec().unwrap() {
        let name = rule["alert"].as_str().unwrap();
        let expr = rule["expr"].as_str().unwrap();
        for metric in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("hued_")) {
            assert!(exported.contains(&format!("# TYPE {metric} ")), "{name}: {metric} is not exported");
        }
        alerts.push(name.to_string());
    }
    assert!(alerts.contains(&"HuedStalled".to_string()) && alerts.contains(&"HuedCameraDisconnected".to_string()), "{alerts:?}");
}

#[test]
fn the_slurm_script_shards_by_array_index_and_sizes_threads_from_the_allocation() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm/hued-array.sbatch")).unwrap();
    for needed in ["#SBATCH --array=", "#SBATCH --cpus-per-task=", "--shard auto", "SLURM_ARRAY_TASK_COUNT", "--threads \"${SLURM_CPUS_PER_TASK", "--report"] {
        assert!(text.contains(needed), "{needed} missing");
    }
}
