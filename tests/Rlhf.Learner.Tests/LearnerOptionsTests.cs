using Rlhf.Learner.Tests.Support;

namespace Rlhf.Learner.Tests;

/// <summary>Options are validated when the host starts; without a model the learner stays idle.</summary>
public sealed class LearnerOptionsTests : IDisposable
{
    readonly TinyPolicy policy = new();
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-tests-state-{Guid.NewGuid():N}");

    public void Dispose()
    {
        policy.Dispose();
        if (Directory.Exists(stateDirectory))
            Directory.Delete(stateDirectory, recursive: true);
    }

    [Theory]
    [InlineData("Learner:BatchSize", "0", "BatchSize.* must be between 1 and 4096")]
    [InlineData("Learner:BatchTimeLimit", "00:00:00", "BatchTimeLimit must be positive")]
    [InlineData("Learner:KlBound", "-1", "KlBound.* must be between 0")]
    [InlineData("Learner:Ppo:ClipEpsilon", "1.5", "Ppo: .*ClipEpsilon")]
    [InlineData("Learner:Sft:Optimizer:LearningRate", "0", "Sft: .*LearningRate")]
    [InlineData("Learner:QueuePrefix", "Learner_Queue", "QueuePrefix may hold lower-case letters")]
    [InlineData("Learner:ModelPath", "/nonexistent/model", "ModelPath '/nonexistent/model' is not a checkpoint directory")]
    public async Task An_invalid_option_stops_the_host_and_names_the_key(string key, string value, string pattern)
    {
        var settings = LearnerHost.Settings(policy, stateDirectory);
        settings[key] = value;

        var error = await Record.ExceptionAsync(async () =>
        {
            await using var host = new LearnerHost(settings);
        });

        Assert.NotNull(error);
        Assert.IsType<Microsoft.Extensions.Options.OptionsValidationException>(error);
        Assert.Matches(pattern, error.Message);
    }

    [Fact]
    public async Task Without_a_model_the_learner_reports_it_and_trains_nothing()
    {
        await using var host = new LearnerHost(new Dictionary<string, string?> { ["Bus:Transport"] = "InMemory" });

        var status = await host.StatusAsync();

        Assert.Equal("no_model", status.GetProperty("phase").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, status.GetProperty("policy_version").ValueKind);
        Assert.Equal(0, (await host.VersionsAsync()).GetProperty("policy").GetProperty("versions").GetArrayLength());
    }
}
