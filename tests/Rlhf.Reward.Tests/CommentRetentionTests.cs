using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Reward.Journal;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

/// <summary><c>Storage:Retention:Comments</c>: the trainer's sweep deletes comments older than the limit, and nothing when it is unset.</summary>
public sealed class CommentRetentionTests
{
    static CommentSubmitted Comment(DateTimeOffset at, string text) =>
        new(Guid.NewGuid(), Guid.NewGuid(), "chatcmpl-r", text, [], "rater", "app", at, 1);

    static async Task<(CommentRetentionSweeper Sweeper, InMemoryCommentStore Store)> SetUpAsync(TimeSpan? retention, ManualTimeProvider time)
    {
        var store = new InMemoryCommentStore();
        await store.AddAsync(Comment(time.GetUtcNow() - TimeSpan.FromDays(40), "old"), TestContext.Current.CancellationToken);
        await store.AddAsync(Comment(time.GetUtcNow() - TimeSpan.FromDays(2), "recent"), TestContext.Current.CancellationToken);
        var options = Options.Create(new StorageOptions { Retention = new RetentionOptions { Comments = retention } });
        return (new CommentRetentionSweeper(store, options, time, NullLogger<CommentRetentionSweeper>.Instance), store);
    }

    [Fact]
    public async Task A_sweep_deletes_comments_older_than_the_retention()
    {
        var time = new ManualTimeProvider();
        var (sweeper, store) = await SetUpAsync(TimeSpan.FromDays(30), time);

        Assert.Equal(1, await sweeper.SweepOnceAsync(TestContext.Current.CancellationToken));
        Assert.Equal(["recent"], (await store.SearchAsync(new CommentQuery(), 10, TestContext.Current.CancellationToken)).Comments.Select(c => c.Comment));

        time.Advance(TimeSpan.FromDays(29));
        Assert.Equal(1, await sweeper.SweepOnceAsync(TestContext.Current.CancellationToken));
        Assert.Equal(0, await store.CountAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Without_a_retention_nothing_is_deleted()
    {
        var (sweeper, store) = await SetUpAsync(null, new ManualTimeProvider());

        Assert.Null(await sweeper.SweepOnceAsync(TestContext.Current.CancellationToken));
        Assert.Equal(2, await store.CountAsync(TestContext.Current.CancellationToken));
    }
}
