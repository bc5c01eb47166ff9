using Rlhf.Contracts;
using Rlhf.Learner.Tests.Support;
using Rlhf.Learner.Training;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests;

/// <summary>A deleted user's rollouts and demonstrations never reach a training step or a checkpoint (issue 20, part 4).</summary>
public sealed class LearnerErasureTests : IDisposable
{
    readonly TinyPolicy policy = new(seed: 7);
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-tests-state-{Guid.NewGuid():N}");

    public void Dispose()
    {
        policy.Dispose();
        if (Directory.Exists(stateDirectory))
            Directory.Delete(stateDirectory, recursive: true);
    }

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static DemonstrationSubmitted Demonstration(string rater, string question, string answer, DateTimeOffset at) =>
        new(Guid.NewGuid(), [new ChatMessage("user", question)], answer, null, rater, "tests", at);

    [Fact]
    public async Task Demonstrations_of_a_user_deleted_over_the_bus_are_left_out_of_the_batch_and_never_claimed()
    {
        await using var host = new LearnerHost(LearnerHost.Settings(policy, stateDirectory));
        await host.WaitUntilReadyAsync();
        var before = DateTimeOffset.UtcNow;
        var erins = Demonstration("erin", "What is my address? It is 12 Elm Street.", "12 Elm Street", before);
        var others = Demonstration("rater-1", "What is 2 plus 3?", "5", before);

        await host.PublishAsync(new UserDataDeleted("erin", before.AddSeconds(1), ["chatcmpl-erin"], []));
        await host.WaitForStatusAsync(s => s.GetProperty("deletions_heard").GetInt32() == 1);
        await host.PublishAllAsync([erins, others]);
        var update = await host.Events.WaitForAsync<PolicyUpdated>();

        Assert.Equal(1, update.PolicyVersion);
        var status = await host.WaitForStatusAsync(s => s.GetProperty("demonstrations").GetProperty("batches").GetInt64() == 1);
        var demonstrations = status.GetProperty("demonstrations");
        Assert.Equal(1, demonstrations.GetProperty("trained").GetInt64());
        Assert.Equal(1, demonstrations.GetProperty("erased").GetInt64());
        var claims = host.Service<IClaimStore>();
        Assert.Null(await claims.GetAsync(TrainingClaims.DemonstrationKey(erins.FeedbackId), Cancel));
        Assert.Equal("promote:1", await claims.GetAsync(TrainingClaims.DemonstrationKey(others.FeedbackId), Cancel));
        // The checkpoint names what it trained on: only the other rater's demonstration, and no text of erin's.
        var checkpoint = status.GetProperty("checkpoint").GetProperty("directory").GetString()!;
        var state = await File.ReadAllTextAsync(Path.Combine(checkpoint, CheckpointDirectory.StateFile), Cancel);
        Assert.DoesNotContain(erins.FeedbackId.ToString(), state, StringComparison.Ordinal);
        Assert.Contains(others.FeedbackId.ToString(), state, StringComparison.Ordinal);
        Assert.All(Directory.EnumerateFiles(checkpoint, "*", SearchOption.AllDirectories),
            file => Assert.DoesNotContain("Elm Street", File.ReadAllText(file), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rollouts_of_a_request_tombstoned_after_they_were_scored_are_not_trained_on()
    {
        await using var host = new LearnerHost(LearnerHost.Settings(policy, stateDirectory));
        await host.WaitUntilReadyAsync();
        var rollouts = await LearnerPpoTests.SeedAsync(host.Service<IRolloutStore>(), SampledRollouts.Generate(policy.Directory, groups: 2));
        var deletedGroup = rollouts[0].GroupId;
        // The rollouts are still stored (a deletion that ran after the scorer read them): the tombstone alone must keep them out.
        await host.Service<IErasureStore>().RecordAsync(new UserErasure("erin", DateTimeOffset.UtcNow, [deletedGroup], []), Cancel);

        await host.PublishAllAsync(rollouts.Select(r => SampledRollouts.Scored(r, 1f)));
        var update = await host.Events.WaitForAsync<PolicyUpdated>();

        Assert.Equal(2, update.Metrics.RolloutsUsed);
        var status = await host.WaitForStatusAsync(s => s.GetProperty("rollouts").GetProperty("batches").GetInt64() == 1);
        Assert.Equal(2, status.GetProperty("rollouts").GetProperty("trained").GetInt64());
        Assert.Equal(2, status.GetProperty("rollouts").GetProperty("erased").GetInt64());
        var claims = host.Service<IClaimStore>();
        foreach (var rollout in rollouts)
            Assert.Equal(rollout.GroupId == deletedGroup ? null : "promote:1", await claims.GetAsync(TrainingClaims.RolloutKey(rollout.RolloutId), Cancel));
    }
}
