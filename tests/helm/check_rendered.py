#!/usr/bin/python3
"""Check the objects rendered from charts/lms.

Usage: check_rendered.py CASE RENDERED.yaml [OTHER.yaml]
       check_rendered.py chart CHART_DIR   (Chart.yaml, values.yaml names/defaults, schema basics)

CASE is one of: default, prod, tls, tls-any-namespace, no-tls-allowed, overrides, other-release,
name-override, no-sa,
checksum-same, checksum-changed (the last two compare RENDERED with OTHER).
Prints one "ok -" / "not ok -" line per assertion and a last line "RESULT <passed> <failed>";
exits 1 when an assertion failed. Needs only python3-yaml.
"""
import json
import re
import sys

import yaml

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok - %s" % what)
    else:
        failed += 1
        print("not ok - %s" % what)
    return cond


def load(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    return docs


def find(docs, kind, name):
    for d in docs:
        if d.get("kind") == kind and d.get("metadata", {}).get("name") == name:
            return d
    return None


def container(dep):
    return dep["spec"]["template"]["spec"]["containers"][0]


def env_map(c):
    """The env entries with a literal value (not the downward API's)."""
    return {e["name"]: e.get("value") for e in c.get("env") or [] if "valueFrom" not in e}


def field_refs(c):
    """The env entries from the downward API: name -> fieldPath."""
    return {e["name"]: e["valueFrom"].get("fieldRef", {}).get("fieldPath")
            for e in c.get("env") or [] if "valueFrom" in e}


def undefined_refs(c):
    """$(VAR) references in args that the container's env does not define (Kubernetes
    would pass them on literally)."""
    names = {e["name"] for e in c.get("env") or []}
    refs = set(re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", " ".join(c.get("args") or [])))
    return sorted(refs - names)


def http_probe(c, which):
    return (c.get(which) or {}).get("httpGet") or {}


def mounts(c):
    return {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}


def arg_value(args, flag):
    if flag in args:
        i = args.index(flag)
        return args[i + 1] if i + 1 < len(args) else None
    return None


def checksum(dep):
    return (dep["spec"]["template"]["metadata"].get("annotations") or {}).get("checksum/config")


def common(docs, release, proxy, orch, *, dialect, shadow="none", log="info", replicas=3,
           sql_port=9043, metrics_port=9044, svc_type="ClusterIP", tls=False, sa=True,
           sa_name=None, monitors=False, orch_dialect=None):
    kinds = sorted(d.get("kind") for d in docs)
    expect = ["Deployment", "Deployment", "PodDisruptionBudget", "Service", "Service"]
    if sa:
        expect.append("ServiceAccount")
    if monitors:
        expect += ["ServiceMonitor", "ServiceMonitor"]
    check(kinds == sorted(expect), "kinds %s == %s" % (kinds, sorted(expect)))
    for d in docs:
        md = d.get("metadata", {})
        check(d.get("apiVersion") and md.get("name"), "%s has apiVersion and name" % d.get("kind"))
        labels = md.get("labels") or {}
        check(labels.get("app.kubernetes.io/instance") == release
              and labels.get("app.kubernetes.io/managed-by") == "Helm"
              and labels.get("app.kubernetes.io/version") == "0.1.0"
              and "app.kubernetes.io/name" in labels and labels.get("helm.sh/chart") == "lms-0.1.0",
              "%s/%s has the app.kubernetes.io labels" % (d.get("kind"), md.get("name")))
        for k, v in labels.items():
            check(isinstance(v, str) and re.match(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", v)
                  and len(v) <= 63, "%s/%s label %s=%r is a valid label value" % (d.get("kind"), md.get("name"), k, v))

    dep = find(docs, "Deployment", proxy)
    odep = find(docs, "Deployment", orch)
    svc = find(docs, "Service", proxy)
    osvc = find(docs, "Service", orch)
    pdb = find(docs, "PodDisruptionBudget", proxy)
    if not all([check(dep is not None, "proxy Deployment %s" % proxy),
                check(odep is not None, "orchestrator Deployment %s" % orch),
                check(svc is not None, "proxy Service %s" % proxy),
                check(osvc is not None, "orchestrator Service %s" % orch),
                check(pdb is not None, "PodDisruptionBudget %s" % proxy)]):
        return None

    # proxy Deployment
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    podlabels = spec["template"]["metadata"]["labels"]
    sel = spec["selector"]["matchLabels"]
    check(spec["replicas"] == replicas, "proxy replicas %r == %r" % (spec["replicas"], replicas))
    check(all(podlabels.get(k) == v for k, v in sel.items()), "proxy selector matches pod labels")
    check(sel.get("app.kubernetes.io/component") == "proxy", "proxy selector has component=proxy")
    c = container(dep)
    args = c["args"]
    check(c["image"] == "molt-lms:0.1.0", "proxy image %s" % c["image"])
    check(args[0] == "molt-lms", "entrypoint selects molt-lms (first arg %r)" % args[0])
    check(arg_value(args, "--source-dialect") == dialect, "--source-dialect %s" % dialect)
    check(arg_value(args, "--shadow-mode") == shadow, "--shadow-mode %s" % shadow)
    check(arg_value(args, "--log-level") == log, "--log-level %s" % log)
    check(arg_value(args, "--config") == "/etc/molt-lms/config.json", "--config /etc/molt-lms/config.json")
    check(arg_value(args, "--listen") == "0.0.0.0:9043", "--listen 0.0.0.0:9043")
    check(arg_value(args, "--metrics-listen") == "0.0.0.0:9044", "--metrics-listen 0.0.0.0:9044")
    grace = pod.get("terminationGracePeriodSeconds")
    drain = arg_value(args, "--shutdown-timeout")
    check(grace == 60 and drain == "45", "terminationGracePeriodSeconds 60 > --shutdown-timeout 45")
    check(all(isinstance(a, str) for a in args), "every arg is a string")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    check(ports == {"sql": 9043, "metrics": 9044}, "proxy container ports %s" % ports)
    scheme = "HTTPS" if tls else "HTTP"
    rp, lp = c.get("readinessProbe", {}).get("httpGet", {}), c.get("livenessProbe", {}).get("httpGet", {})
    check(rp.get("path") == "/readyz" and rp.get("port") == "metrics" and rp.get("scheme") == scheme,
          "readiness /readyz on metrics over %s" % scheme)
    check(lp.get("path") == "/healthz" and lp.get("port") == "metrics" and lp.get("scheme") == scheme,
          "liveness /healthz on metrics over %s" % scheme)
    m = mounts(c)
    vols = {v["name"]: v for v in pod["volumes"]}
    check(m.get("/etc/molt-lms") == "config" and "secret" in vols.get("config", {}),
          "config secret mounted at /etc/molt-lms")
    check(all(name in vols for name in m.values()), "every proxy mount has a volume")
    check(checksum(dep) and re.match(r"^[0-9a-f]{64}$", checksum(dep)), "checksum/config annotation is a sha256")
    aff = pod.get("affinity", {}).get("podAntiAffinity", {}).get("preferredDuringSchedulingIgnoredDuringExecution") or []
    check(len(aff) == 1 and aff[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
          and aff[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == sel,
          "preferred podAntiAffinity across kubernetes.io/hostname on the proxy pods")
    check(("--allow-tls-mode-disable" in args) is False or tls is None, "no --allow-tls-mode-disable by default")
    check(arg_value(args, "--advertise-admin-host") == "$(POD_IP)", "--advertise-admin-host $(POD_IP)")
    check("--advertise-admin-url" not in args, "no --advertise-admin-url (it would not bracket an IPv6 pod IP)")
    check(arg_value(args, "--instance-id") == "$(POD_NAME)", "--instance-id $(POD_NAME)")
    refs = field_refs(c)
    check(refs.get("POD_IP") == "status.podIP" and refs.get("POD_NAME") == "metadata.name",
          "POD_IP and POD_NAME from the downward API (%s)" % refs)
    check(not undefined_refs(c), "every $(VAR) in the proxy args is in its env (undefined: %s)" % undefined_refs(c))
    sa_expect = sa_name or (proxy if sa else "default")
    check(pod.get("serviceAccountName") == sa_expect, "proxy serviceAccountName %s" % sa_expect)
    if sa:
        check(find(docs, "ServiceAccount", sa_expect) is not None, "ServiceAccount %s" % sa_expect)

    # PDB
    check(pdb["spec"].get("maxUnavailable") == 1 and "minAvailable" not in pdb["spec"], "PDB maxUnavailable 1")
    check(pdb["spec"]["selector"]["matchLabels"] == sel, "PDB selects the proxy pods")
    check(pdb["apiVersion"] == "policy/v1", "PDB apiVersion policy/v1")

    # proxy Service
    sp = {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]}
    check(sp == {"sql": (sql_port, "sql"), "metrics": (metrics_port, "metrics")}, "proxy Service ports %s" % sp)
    check(svc["spec"]["type"] == svc_type, "proxy Service type %s" % svc_type)
    check(svc["spec"]["selector"] == sel, "proxy Service selects the proxy pods")

    # orchestrator
    ospec = odep["spec"]
    osel = ospec["selector"]["matchLabels"]
    check(ospec["replicas"] == 1, "orchestrator has 1 replica")
    check(osel.get("app.kubernetes.io/component") == "orchestrator", "orchestrator selector component")
    check(all(ospec["template"]["metadata"]["labels"].get(k) == v for k, v in osel.items()),
          "orchestrator selector matches its pod labels")
    check(not all(podlabels.get(k) == v for k, v in osel.items()), "orchestrator selector does not match proxy pods")
    check(not all(ospec["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items()),
          "proxy selector does not match orchestrator pods")
    oc = container(odep)
    oargs = oc["args"]
    check(oargs[0] == "molt-lms-orchestrator", "entrypoint selects molt-lms-orchestrator")
    check(arg_value(oargs, "--source-dialect") == (orch_dialect or dialect), "orchestrator --source-dialect")
    check(arg_value(oargs, "--log-level") == log, "orchestrator --log-level %s" % log)
    check(arg_value(oargs, "--config") == "/etc/molt-lms-orchestrator/config.json", "orchestrator --config")
    check(arg_value(oargs, "--listen") == "0.0.0.0:4200", "orchestrator --listen 0.0.0.0:4200")
    check(arg_value(oargs, "--metrics-listen") == "0.0.0.0:4201", "orchestrator --metrics-listen 0.0.0.0:4201")
    check(("--allow-tls-mode-disable" in oargs) == (tls is None),
          "orchestrator --allow-tls-mode-disable only with lms.allowTLSDisable")
    check(all(isinstance(a, str) for a in oargs), "every orchestrator arg is a string")
    check(not undefined_refs(oc), "every $(VAR) in the orchestrator args is in its env")
    for which in ("readinessProbe", "livenessProbe"):
        pr = http_probe(oc, which)
        check(pr.get("path") == "/healthz" and pr.get("port") == "api" and pr.get("scheme") == scheme,
              "orchestrator %s GET /healthz on api over %s (%s)" % (which, scheme, pr))
    oports = {p["name"]: p["containerPort"] for p in oc["ports"]}
    check(oports == {"api": 4200, "metrics": 4201}, "orchestrator container ports %s" % oports)
    om = mounts(oc)
    ovols = {v["name"]: v for v in odep["spec"]["template"]["spec"]["volumes"]}
    check(om.get("/etc/molt-lms-orchestrator") == "config" and "secret" in ovols.get("config", {}),
          "orchestrator config secret mounted at /etc/molt-lms-orchestrator")
    check(all(name in ovols for name in om.values()), "every orchestrator mount has a volume")
    osp = {p["name"]: (p["port"], p["targetPort"]) for p in osvc["spec"]["ports"]}
    check(osp == {"api": (4200, "api"), "metrics": (4201, "metrics")}, "orchestrator Service ports %s" % osp)
    check(osvc["spec"]["selector"] == osel, "orchestrator Service selects the orchestrator pod")

    sms = [d for d in docs if d.get("kind") == "ServiceMonitor"]
    if not monitors:
        check(not sms, "no ServiceMonitor when serviceMonitor.enabled is false")
    return {"dep": dep, "odep": odep, "svc": svc, "osvc": osvc, "sms": sms, "sel": sel, "osel": osel}


# The values issue 5 documents, with their defaults (None: any default, checked elsewhere).
EXPECTED_VALUES = {
    "nameOverride": "", "fullnameOverride": "",
    "image.repository": "molt-lms", "image.pullPolicy": "IfNotPresent", "image.tag": "",
    "serviceAccount.create": True, "serviceAccount.annotations": {}, "serviceAccount.name": "",
    "podSecurityContext": {}, "securityContext": {},
    "lms.sourceDialect": "", "lms.shadowMode": "none", "lms.replicaCount": 3, "lms.logLevel": "info",
    "lms.allowTLSDisable": False, "lms.labels": {}, "lms.annotations": {}, "lms.nodeSelector": {},
    "lms.configSecretName": "", "lms.service.type": "ClusterIP", "lms.service.port": 9043,
    "lms.service.metricsPort": 9044, "lms.sslVolumes": [], "lms.sslVolumeMounts": [], "lms.env": [],
    "lms.image": {}, "lms.resources": {},
    "orchestrator.sourceDialect": "", "orchestrator.targetDialect": "cockroach", "orchestrator.logLevel": "",
    "orchestrator.configSecretName": "", "orchestrator.service.type": "ClusterIP",
    "orchestrator.service.port": 4200, "orchestrator.service.metricsPort": 4201,
    "orchestrator.sslVolumes": [], "orchestrator.sslVolumeMounts": [], "orchestrator.env": [],
    "serviceMonitor.enabled": False, "serviceMonitor.labels": {}, "serviceMonitor.annotations": {},
    "serviceMonitor.interval": "30s", "serviceMonitor.namespaced": False,
}


def leaves(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = prefix + k
        if isinstance(v, dict) and v:
            out.update(leaves(v, key + "."))
        else:
            out[key] = v
    return out


def check_chart(chart_dir):
    with open(chart_dir + "/Chart.yaml") as f:
        meta = yaml.safe_load(f)
    check(meta.get("apiVersion") == "v2" and meta.get("name") == "lms" and str(meta.get("version")) == "0.1.0"
          and str(meta.get("appVersion")) == "0.1.0", "Chart.yaml: apiVersion v2, lms 0.1.0, appVersion 0.1.0")
    with open(chart_dir + "/values.yaml") as f:
        got = leaves(yaml.safe_load(f))
    missing = sorted(set(EXPECTED_VALUES) - set(got))
    extra = sorted(set(got) - set(EXPECTED_VALUES))
    check(not missing, "values.yaml has every documented value (missing: %s)" % missing)
    check(not extra, "values.yaml has no undocumented value (extra: %s)" % extra)
    for k, v in EXPECTED_VALUES.items():
        if k in got:
            check(got[k] == v and type(got[k]) is type(v), "values.yaml %s default %r" % (k, v))
    with open(chart_dir + "/values.schema.json") as f:
        schema = json.load(f)
    props = schema["properties"]
    lms = props["lms"]["properties"]
    check("sourceDialect" in props["lms"].get("required", [])
          and lms["sourceDialect"].get("enum") == ["postgres", "mysql", "cockroach"],
          "schema: lms.sourceDialect required, enum postgres|mysql|cockroach")
    check(lms["shadowMode"].get("enum") == ["none", "async", "sync", "strict-sync"],
          "schema: lms.shadowMode enum none|async|sync|strict-sync")
    check(lms["replicaCount"] == {"type": "integer", "minimum": 1}, "schema: lms.replicaCount integer >= 1")


def main():
    case, path = sys.argv[1], sys.argv[2]
    if case == "chart":
        check_chart(path)
        return
    docs = load(path)
    if case == "default":
        r = common(docs, "lms", "lms", "lms-orchestrator", dialect="postgres")
        if r:
            c = container(r["dep"])
            check(not env_map(c) and set(field_refs(c)) == {"POD_IP", "POD_NAME"},
                  "no env by default but the downward API's POD_IP and POD_NAME")
            check(not container(r["odep"]).get("env"), "no orchestrator env by default")
            check("--allow-tls-mode-disable" not in c["args"], "no --allow-tls-mode-disable by default")
            check(r["dep"]["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"] == "lms-config",
                  "default config secret lms-config")
            check(r["odep"]["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"]
                  == "lms-orchestrator-config", "default orchestrator config secret lms-orchestrator-config")
    elif case == "prod":
        common(docs, "prod", "prod-lms", "prod-lms-orchestrator", dialect="cockroach", shadow="async")
    elif case in ("tls", "tls-any-namespace"):
        r = common(docs, "prod", "prod-lms", "prod-lms-orchestrator", dialect="mysql", shadow="strict-sync",
                   log="debug", replicas=4, sql_port=3306, metrics_port=9144, svc_type="LoadBalancer",
                   tls=True, monitors=True)
        if not r:
            return
        dep, odep = r["dep"], r["odep"]
        c, oc = container(dep), container(odep)
        env = env_map(c)
        check(env == {"LMS_SSL_CA": "/etc/molt-lms/tls/ca.crt", "LMS_SSL_CERT": "/etc/molt-lms/tls/tls.crt",
                      "LMS_SSL_KEY": "/etc/molt-lms/tls/tls.key"}, "proxy TLS env %s" % env)
        oenv = env_map(oc)
        check(set(oenv) == {"ORCH_CA_TLS_CERT", "ORCH_TLS_CERT", "ORCH_TLS_KEY"}, "orchestrator TLS env %s" % sorted(oenv))
        m = mounts(c)
        check(m.get("/etc/molt-lms/tls") == "proxy-tls", "proxy TLS mount at /etc/molt-lms/tls")
        vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        check(vols.get("proxy-tls", {}).get("secret", {}).get("secretName") == "lms-proxy-tls",
              "proxy TLS volume from secret lms-proxy-tls")
        check(vols.get("proxy-tls", {}).get("secret", {}).get("defaultMode") == 0o400, "defaultMode 0400 kept")
        check(vols["config"]["secret"]["secretName"] == "lms-config", "configSecretName lms-config")
        check(all(p.startswith("/etc/molt-lms") for p in env.values()), "TLS env paths point into the mounts")
        check(mounts(oc).get("/etc/molt-lms-orchestrator/tls") == "orchestrator-tls", "orchestrator TLS mount")
        ovols = {v["name"]: v for v in odep["spec"]["template"]["spec"]["volumes"]}
        check(ovols["config"]["secret"]["secretName"] == "lms-orchestrator-config",
              "orchestrator configSecretName lms-orchestrator-config")
        pod = dep["spec"]["template"]["spec"]
        check(pod.get("nodeSelector") == {"workload": "lms"}, "nodeSelector")
        check(c.get("resources", {}).get("limits", {}).get("memory") == "1Gi", "resources")
        check(c.get("securityContext", {}).get("readOnlyRootFilesystem") is True, "container securityContext")
        check(pod.get("securityContext", {}).get("runAsUser") == 10001, "pod securityContext")
        check(dep["spec"]["template"]["metadata"]["labels"].get("team") == "data", "lms.labels on proxy pods")
        check(dep["spec"]["template"]["metadata"]["annotations"].get("example.com/owner") == "migrations",
              "lms.annotations on proxy pods")
        sa = find(docs, "ServiceAccount", "prod-lms")
        check(sa and sa["metadata"].get("annotations") == {"example.com/role": "lms"}, "ServiceAccount annotations")
        sms = {d["metadata"]["name"]: d for d in r["sms"]}
        check(set(sms) == {"prod-lms", "prod-lms-orchestrator"}, "ServiceMonitors %s" % sorted(sms))
        for name, sel in (("prod-lms", r["sel"]), ("prod-lms-orchestrator", r["osel"])):
            sm = sms.get(name)
            if not sm:
                continue
            ep = sm["spec"]["endpoints"]
            check(len(ep) == 1 and ep[0]["port"] == "metrics" and ep[0]["path"] == "/metrics"
                  and ep[0]["interval"] == "15s" and ep[0].get("scheme") == "https",
                  "%s scrapes the metrics port over https every 15s" % name)
            check(sm["spec"]["selector"]["matchLabels"] == sel, "%s selects its Service" % name)
            check(sm["metadata"]["labels"].get("release") == "prometheus", "%s carries serviceMonitor.labels" % name)
            check(sm["metadata"].get("annotations") == {"example.com/scrape": "yes"},
                  "%s carries serviceMonitor.annotations" % name)
            ns = sm["spec"].get("namespaceSelector")
            if case == "tls":
                check(ns == {"matchNames": ["migrate"]}, "%s namespaced: matchNames [migrate] (%s)" % (name, ns))
            else:
                check(ns == {"any": True}, "%s not namespaced: any: true (%s)" % (name, ns))
        svc_sel = r["svc"]["metadata"]["labels"]
        check(all(svc_sel.get(k) == v for k, v in r["sel"].items()),
              "proxy Service labels match the proxy ServiceMonitor selector")
        osvc_sel = r["osvc"]["metadata"]["labels"]
        check(all(osvc_sel.get(k) == v for k, v in r["osel"].items()),
              "orchestrator Service labels match the orchestrator ServiceMonitor selector")
        check(not all(osvc_sel.get(k) == v for k, v in r["sel"].items()),
              "proxy ServiceMonitor does not select the orchestrator Service")
    elif case == "no-tls-allowed":
        r = common(docs, "lms", "lms", "lms-orchestrator", dialect="postgres", tls=None)
        if r:
            check(container(r["dep"])["args"][-1] == "--allow-tls-mode-disable", "--allow-tls-mode-disable given")
    elif case == "overrides":
        r = common(docs, "prod", "migr", "migr-orchestrator", dialect="postgres", sa_name="migr",
                   orch_dialect="cockroach")
        if r:
            check(container(r["dep"])["image"] == "molt-lms:0.1.0", "proxy image unchanged")
    elif case == "other-release":
        common(docs, "lms-staging", "lms-staging-lms", "lms-staging-lms-orchestrator", dialect="postgres")
    elif case == "name-override":
        common(docs, "prod", "prod-proxy", "prod-proxy-orchestrator", dialect="postgres")
    elif case == "no-sa":
        common(docs, "lms", "lms", "lms-orchestrator", dialect="postgres", sa=False)
    elif case in ("checksum-same", "checksum-changed"):
        other = load(sys.argv[3])
        a = [checksum(d) for d in docs if d.get("kind") == "Deployment"]
        b = [checksum(d) for d in other if d.get("kind") == "Deployment"]
        check(len(a) == 2 and len(b) == 2 and all(a) and all(b), "both renders have two checksummed Deployments")
        if case == "checksum-same":
            check(a[0] == b[0], "proxy checksum unchanged when only replicaCount changes")
        else:
            check(a[0] != b[0], "proxy checksum changes with shadowMode")
    else:
        check(False, "unknown case %s" % case)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a malformed render is a failure, not a crash
        check(False, "%s: %s: %s" % (sys.argv[1], type(e).__name__, e))
    print("RESULT %d %d" % (passed, failed))
    sys.exit(1 if failed else 0)
