using YamlDotNet.RepresentationModel;

namespace Rlhf.Deploy.Tests;

/// <summary>
/// deploy/k8s rendered by <c>kubectl kustomize</c> (both overlays; production with its example secrets file): every
/// container's environment (its own and its ConfigMaps') binds to an options property, probes hit mapped paths, every
/// Secret/ConfigMap/claim a pod names exists (or is the RabbitMQ operator's), the learner is one stateful replica with
/// its state on a claim, production puts it on a GPU node, and KEDA scales a Deployment that exists.
/// </summary>
public sealed class KubernetesManifestTests
{
    /// <summary>Made by the RabbitMQ Cluster Operator for the RabbitmqCluster <c>rlhf-rabbitmq</c>.</summary>
    const string OperatorSecret = "rlhf-rabbitmq-default-user";

    static async Task<IReadOnlyList<YamlMappingNode>> RenderAsync(string overlay)
    {
        // A copy, so the production overlay renders with its example secrets file and nothing is written into the repository.
        var copy = Path.Combine(Path.GetTempPath(), $"rlhf-k8s-{Guid.NewGuid():N}");
        CopyDirectory(Path.Combine(Manifests.Root, "deploy", "k8s"), copy);
        try
        {
            var production = Path.Combine(copy, "overlays", "production");
            File.Copy(Path.Combine(production, "secrets.env.example"), Path.Combine(production, "secrets.env"));
            var (exitCode, output, error) = await Manifests.RunAsync(copy, "kubectl", "kustomize", Path.Combine("overlays", overlay));
            Assert.True(exitCode == 0, $"kubectl kustomize overlays/{overlay} failed: {error}");
            return Manifests.Documents(output);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
            if (Path.GetFileName(file) != "secrets.env")
                File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var directory in Directory.GetDirectories(from))
            CopyDirectory(directory, Path.Combine(to, Path.GetFileName(directory)));
    }

    static IEnumerable<YamlMappingNode> OfKind(IReadOnlyList<YamlMappingNode> documents, string kind) => documents.Where(d => d.Text("kind") == kind);

    static YamlMappingNode Named(IReadOnlyList<YamlMappingNode> documents, string kind, string name) =>
        Assert.Single(OfKind(documents, kind), d => d.Text("metadata", "name") == name);

    static IEnumerable<(YamlMappingNode Workload, YamlNode Container)> ServiceContainers(IReadOnlyList<YamlMappingNode> documents) =>
        documents.Where(d => d.Text("kind") is "Deployment" or "StatefulSet")
            .SelectMany(w => w.Items("spec", "template", "spec", "containers").Select(c => (w, c)))
            .Where(p => p.c.Text("image")!.Contains("rlhf", StringComparison.Ordinal));

    public static TheoryData<string> Overlays => ["dev", "production"];

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task Every_environment_key_of_every_service_binds_to_an_options_property(string overlay)
    {
        var documents = await RenderAsync(overlay);
        var catalog = OptionsCatalog.Load();
        var configMaps = OfKind(documents, "ConfigMap").ToDictionary(c => c.Text("metadata", "name")!, c => c.Entries("data").ToList());
        var problems = new List<string>();
        var containers = ServiceContainers(documents).ToList();

        foreach (var (workload, container) in containers)
        {
            var own = container.Items("env").Select(e => (Key: e.Text("name")!, Value: e.Text("value"))).ToList();
            var fromMaps = container.Items("envFrom").Select(e => e.Text("configMapRef", "name")).OfType<string>()
                .SelectMany(name => configMaps.TryGetValue(name, out var data) ? data.Select(d => (d.Key, ((YamlScalarNode)d.Value).Value))
                    : throw new Xunit.Sdk.XunitException($"{workload.Text("metadata", "name")} reads ConfigMap {name}, which is not rendered"));
            foreach (var (key, value) in own.Concat(fromMaps))
            {
                // A helper variable only other variables expand ($(REDIS_PASSWORD)) is not configuration.
                if (own.Any(o => o.Value?.Contains($"$({key})", StringComparison.Ordinal) == true))
                    continue;
                if (catalog.Check(key, value) is { } problem)
                    problems.Add($"{workload.Text("metadata", "name")}: {key}: {problem}");
            }
        }

        Assert.Equal(6, containers.Count); // five services, the reward service twice (trainer, scorers)
        Assert.Empty(problems);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task Probes_hit_paths_the_services_map_and_every_named_secret_config_map_and_claim_exists(string overlay)
    {
        var documents = await RenderAsync(overlay);
        var secrets = OfKind(documents, "Secret").Select(s => s.Text("metadata", "name")!).Append(OperatorSecret).ToHashSet();
        var secretKeys = OfKind(documents, "Secret").ToDictionary(s => s.Text("metadata", "name")!, s => s.Entries("data").Select(e => e.Key).ToHashSet());
        var claims = OfKind(documents, "PersistentVolumeClaim").Select(c => c.Text("metadata", "name")!).ToHashSet();

        foreach (var (workload, container) in ServiceContainers(documents))
        {
            var name = workload.Text("metadata", "name");
            foreach (var probe in new[] { "startupProbe", "livenessProbe", "readinessProbe" })
                Assert.True(HealthPaths.Mapped.Contains(container.Text(probe, "httpGet", "path") ?? ""), $"{name} {probe}");
            foreach (var reference in container.Items("env").Select(e => e.At("valueFrom", "secretKeyRef")).OfType<YamlNode>())
            {
                var secret = reference.Text("name")!;
                Assert.True(secrets.Contains(secret), $"{name} reads Secret {secret}, which nothing creates");
                if (secretKeys.TryGetValue(secret, out var keys))
                    Assert.True(keys.Contains(reference.Text("key")!), $"{name} reads key {reference.Text("key")} that Secret {secret} lacks");
            }
            foreach (var volume in workload.Items("spec", "template", "spec", "volumes"))
                if (volume.Text("persistentVolumeClaim", "claimName") is { } claim)
                    Assert.True(claims.Contains(claim), $"{name} mounts claim {claim}, which is not rendered");
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task The_learner_is_one_stateful_replica_that_keeps_its_checkpoints_on_its_own_claim(string overlay)
    {
        var documents = await RenderAsync(overlay);

        var learner = Named(documents, "StatefulSet", "rlhf-learner");
        Assert.Equal("1", learner.Text("spec", "replicas"));
        var container = Assert.Single(learner.Items("spec", "template", "spec", "containers"));
        var stateDirectory = container.Items("env").Single(e => e.Text("name") == "Learner__StateDirectory").Text("value")!;
        var claim = Assert.Single(learner.Items("spec", "volumeClaimTemplates")).Text("metadata", "name");
        var mount = Assert.Single(container.Items("volumeMounts"), m => m.Text("name") == claim);
        Assert.StartsWith(mount.Text("mountPath") + "/", stateDirectory + "/", StringComparison.Ordinal);
        Assert.Equal("1654", learner.Text("spec", "template", "spec", "securityContext", "fsGroup"));
        Assert.DoesNotContain(documents, d => d.Text("kind") == "Deployment" && d.Text("metadata", "name") == "rlhf-learner");
    }

    [Fact]
    public async Task Production_puts_the_learner_on_a_gpu_node_and_scales_generation_on_queue_wait_and_scorers_on_queue_length()
    {
        var documents = await RenderAsync("production");

        var pod = Named(documents, "StatefulSet", "rlhf-learner").At("spec", "template", "spec")!;
        Assert.Equal("true", pod.Text("nodeSelector", "nvidia.com/gpu.present"));
        Assert.Contains(pod.Items("tolerations"), t => t.Text("key") == "nvidia.com/gpu");
        var container = Assert.Single(pod.Items("containers"));
        Assert.Equal("1", container.Text("resources", "limits", "nvidia.com/gpu"));
        Assert.Contains(container.Items("env"), e => e.Text("name") == "Learner__Device" && e.Text("value") == "cuda");
        Assert.Equal("registry.example.com/rlhf/learner:1.0.0", container.Text("image"));

        var scaled = Named(documents, "ScaledObject", "rlhf-generation");
        Named(documents, "Deployment", scaled.Text("spec", "scaleTargetRef", "name")!);
        Assert.Contains("rlhf_generation_queue_wait_seconds", Assert.Single(scaled.Items("spec", "triggers")).Text("metadata", "query"));
        // One reward trainer; scorers scale on the length of their queue.
        static string Role(YamlNode workload) => Assert.Single(workload.Items("spec", "template", "spec", "containers")).Items("env")
            .Single(e => e.Text("name") == "Reward__Role").Text("value")!;
        var trainer = Named(documents, "Deployment", "rlhf-reward");
        Assert.Equal(("1", "Trainer"), (trainer.Text("spec", "replicas"), Role(trainer)));
        var scorers = Named(documents, "ScaledObject", "rlhf-reward-scorer");
        Assert.Equal("Scorer", Role(Named(documents, "Deployment", scorers.Text("spec", "scaleTargetRef", "name")!)));
        var queueTrigger = Assert.Single(scorers.Items("spec", "triggers"));
        Assert.Equal(("rabbitmq", "rollout-generated"), (queueTrigger.Text("type"), queueTrigger.Text("metadata", "queueName")));
        var authentication = Named(documents, "TriggerAuthentication", queueTrigger.Text("authenticationRef", "name")!);
        var secretRef = Assert.Single(authentication.Items("spec", "secretTargetRef"));
        var secret = Named(documents, "Secret", secretRef.Text("name")!); // exists under that exact name (no hash suffix)
        Assert.NotNull(secret.At("data", secretRef.Text("key")!));
        Assert.All(OfKind(documents, "Deployment").Concat(OfKind(documents, "StatefulSet")), w => Assert.Equal("rlhf", w.Text("metadata", "namespace")));
    }
}
