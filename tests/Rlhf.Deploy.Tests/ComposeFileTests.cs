using YamlDotNet.RepresentationModel;

namespace Rlhf.Deploy.Tests;

/// <summary>
/// docker-compose.yml, checked with docker-compose's own parser (schema, interpolation, anchors) against the example
/// environment file: every service's environment key binds to an options property, probes hit mapped paths, the model
/// and the learner's state are mounted where the services look, and only the public APIs listen beyond localhost.
/// (No Docker engine here: nothing is built or run in a container.)
/// </summary>
public sealed class ComposeFileTests
{
    static readonly string[] Services = ["generation", "feedback", "reward", "reward-scorer", "learner", "dashboard"];

    static async Task<YamlMappingNode> ConfigAsync()
    {
        var (exitCode, output, error) = await Manifests.RunAsync(Manifests.Root, "docker-compose", "--env-file", "deploy/compose.env.example",
            "-f", "docker-compose.yml", "config");
        Assert.True(exitCode == 0, $"docker-compose config failed: {error}");
        return Manifests.Documents(output).Single();
    }

    static Dictionary<string, string?> Environment(YamlNode service) =>
        service.Entries("environment").ToDictionary(e => e.Key, e => (e.Value as YamlScalarNode)?.Value);

    /// <summary>A volume in either of compose's forms: long (mapping) or short (<c>source:target[:mode]</c>).</summary>
    static (string? Type, string? Source, string? Target, bool ReadOnly) Volume(YamlNode node)
    {
        if (node is YamlMappingNode)
            return (node.Text("type"), node.Text("source"), node.Text("target"), node.Text("read_only") == "true");
        var parts = ((YamlScalarNode)node).Value!.Split(':');
        return (parts[0].StartsWith('/') || parts[0].StartsWith('.') ? "bind" : "volume", parts[0], parts[1], parts.Length > 2 && parts[2] == "ro");
    }

    /// <summary>A published port as docker-compose config prints it: a mapping, or <c>[ip:]published:target[/protocol]</c>.</summary>
    static (string? Ip, string Published) Port(YamlNode node)
    {
        if (node is YamlMappingNode)
            return (node.Text("host_ip"), node.Text("published")!);
        var parts = ((YamlScalarNode)node).Value!.Split('/')[0].Split(':');
        return parts.Length == 3 ? (parts[0], parts[1]) : (null, parts[0]);
    }

    [Fact]
    public async Task Every_environment_key_of_every_service_binds_to_an_options_property()
    {
        var config = await ConfigAsync();
        var catalog = OptionsCatalog.Load();

        var problems = Services.SelectMany(name => Environment(config.At("services", name)!)
            .Select(e => (name, e.Key, Problem: catalog.Check(e.Key, e.Value))).Where(p => p.Problem is not null)).ToList();

        Assert.True(catalog.SectionCount >= 10, $"only {catalog.SectionCount} options sections found");
        Assert.Empty(problems);
        // One key per client app, for chat and feedback; no anonymous chat; the dashboard behind an operator key.
        const string exampleKeyHash = "c018c41c1afaf2c0b66c64f97d0ee135657b699ad260f299234cd40a5d625e0e";
        Assert.Equal(exampleKeyHash, Environment(config.At("services", "feedback")!)["Feedback__ApiKeys__chat-app"]);
        Assert.Equal(exampleKeyHash, Environment(config.At("services", "generation")!)["Generation__ClientKeys__chat-app"]);
        Assert.Equal("false", Environment(config.At("services", "generation")!)["Generation__AllowAnonymous"]);
        Assert.False(string.IsNullOrEmpty(Environment(config.At("services", "dashboard")!)["Dashboard__OperatorKey"]));
    }

    [Fact]
    public async Task Health_checks_use_paths_the_services_map()
    {
        var config = await ConfigAsync();

        foreach (var name in Services)
        {
            var test = config.At("services", name)!.Items("healthcheck", "test").Select(n => ((YamlScalarNode)n).Value!).ToList();
            var url = new Uri(Assert.Single(test, t => t.StartsWith("http://", StringComparison.Ordinal)));
            Assert.Contains(url.AbsolutePath, HealthPaths.Mapped);
        }
        Assert.Contains("/health/ready", HealthPaths.Mapped);
        Assert.Contains("/health/live", HealthPaths.Mapped);
    }

    [Fact]
    public async Task The_model_is_mounted_read_only_where_each_service_reads_it_and_the_learner_keeps_its_state_on_a_volume()
    {
        var config = await ConfigAsync();

        foreach (var (name, key) in new[] { ("generation", "Generation__ModelPath"), ("reward", "Reward__ModelPath"), ("learner", "Learner__ModelPath") })
        {
            var service = config.At("services", name)!;
            var model = Assert.Single(service.Items("volumes").Select(Volume), v => v.Target == Environment(service)[key]);
            Assert.Equal(("bind", true), (model.Type, model.ReadOnly));
        }
        var learner = config.At("services", "learner")!;
        var state = Assert.Single(learner.Items("volumes").Select(Volume), v => v.Type == "volume");
        Assert.StartsWith(state.Target + "/", Environment(learner)["Learner__StateDirectory"] + "/", StringComparison.Ordinal);
        Assert.Contains(state.Source!, config.Entries("volumes").Select(v => v.Key));
        // The image creates that folder owned by its non-root user, so the named volume starts with that owner.
        var dockerfile = await File.ReadAllTextAsync(Path.Combine(Manifests.Root, "deploy", "Dockerfile"), TestContext.Current.CancellationToken);
        Assert.Contains($"mkdir -p {state.Target} && chown \"$APP_UID\" {state.Target}", dockerfile);
    }

    [Fact]
    public async Task Only_the_chat_and_feedback_apis_listen_beyond_localhost_and_the_broker_and_redis_need_passwords()
    {
        var config = await ConfigAsync();

        var published = config.Entries("services").SelectMany(s => s.Value.Items("ports").Select(Port).Select(p => (Service: s.Key, p.Ip,
            Port: p.Published))).ToList();
        Assert.Equal(["feedback", "generation"], published.Where(p => p.Ip is null or "0.0.0.0").Select(p => p.Service).Order());
        Assert.DoesNotContain(published, p => p.Service == "redis" || (p.Service == "rabbitmq" && p.Port == "5672"));
        Assert.Contains("change-me-redis-password", config.At("services", "redis")!.Items("command").Select(n => ((YamlScalarNode)n).Value));
        Assert.Equal("change-me-broker-password", config.Text("services", "rabbitmq", "environment", "RABBITMQ_DEFAULT_PASS"));
    }

    [Fact]
    public async Task Without_the_env_file_compose_refuses_to_start_and_names_the_missing_secret()
    {
        var empty = Path.Combine(Path.GetTempPath(), $"rlhf-empty-{Guid.NewGuid():N}.env");
        await File.WriteAllTextAsync(empty, "", TestContext.Current.CancellationToken);
        try
        {
            var (exitCode, _, error) = await Manifests.RunAsync(Manifests.Root, "docker-compose", "--env-file", empty, "-f", "docker-compose.yml", "config");

            Assert.NotEqual(0, exitCode);
            Assert.Contains("set RABBITMQ_PASSWORD in .env", error);
        }
        finally
        {
            File.Delete(empty);
        }
    }
}
