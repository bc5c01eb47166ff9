using Rlhf.Contracts;
using Rlhf.Learner.Tests.Support;
using Rlhf.Learner.Training;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests;

/// <summary>SFT on demonstrations: a version of its own, idempotent per feedback id.</summary>
public sealed class LearnerDemonstrationTests : IDisposable
{
    readonly TinyPolicy policy = new(seed: 7);
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-tests-state-{Guid.NewGuid():N}");

    public void Dispose()
    {
        policy.Dispose();
        if (Directory.Exists(stateDirectory))
            Directory.Delete(stateDirectory, recursive: true);
    }

    static DemonstrationSubmitted Demonstration(string question, string answer, string role = "user") =>
        new(Guid.NewGuid(), [new ChatMessage("system", "Answer briefly."), new ChatMessage(role, question)], answer, null, "rater-1", "tests",
            DateTimeOffset.UtcNow);

    [Fact]
    public async Task A_batch_of_demonstrations_becomes_an_sft_version_and_is_not_trained_twice()
    {
        await using var host = new LearnerHost(LearnerHost.Settings(policy, stateDirectory));
        await host.WaitUntilReadyAsync();
        var first = Demonstration("What is 2 plus 3?", "5");
        var second = Demonstration("What is 4 plus 4?", "8");

        await host.PublishAllAsync([first, second]);
        var update = await host.Events.WaitForAsync<PolicyUpdated>();

        Assert.Equal(1, update.PolicyVersion);
        Assert.Equal(0, update.ParentVersion);
        Assert.Equal(0, update.Metrics.RolloutsUsed);
        // A random byte-level model starts near ln(260) = 5.56 nats per token.
        Assert.InRange(update.Metrics.SftLoss!.Value, 4.0, 7.0);
        Assert.Null(update.Metrics.PtxLoss);
        Assert.InRange(update.Metrics.EvalKl!.Value, 1e-9, 5.0);
        Assert.Equal("promote:1", await host.Service<IClaimStore>().GetAsync(TrainingClaims.DemonstrationKey(first.FeedbackId),
            TestContext.Current.CancellationToken));

        // A redelivered demonstration and one with a role the chat template does not know.
        await host.PublishAllAsync([first, Demonstration("Hi", "Hello", role: "robot")]);
        var status = await host.WaitForStatusAsync(s => s.GetProperty("demonstrations").GetProperty("batches").GetInt64() == 2);

        var demonstrations = status.GetProperty("demonstrations");
        Assert.Equal(2, demonstrations.GetProperty("trained").GetInt64());
        Assert.Equal(1, demonstrations.GetProperty("duplicates").GetInt64());
        Assert.Equal(1, demonstrations.GetProperty("invalid").GetInt64());
        Assert.Equal(1, status.GetProperty("sft_steps").GetInt64());
        Assert.Equal(0, status.GetProperty("ppo_steps").GetInt64());
        Assert.Equal(1, status.GetProperty("policy_version").GetInt64());
        Assert.Single(host.Events.Of<PolicyUpdated>());
    }
}
