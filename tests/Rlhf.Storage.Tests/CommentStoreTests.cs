using Rlhf.Contracts;

namespace Rlhf.Storage.Tests;

/// <summary>What every <see cref="ICommentStore"/> does; run against the in-memory twin and real Redis.</summary>
public abstract class CommentStoreContract
{
    protected abstract ICommentStore CreateStore();

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-12-06T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    static CommentSubmitted Comment(int minute, string? text, params string[] flags) => new(Guid.NewGuid(), Guid.NewGuid(), $"group-{minute}", text, flags,
        $"rater-{minute}", "app", Start.AddMinutes(minute), 1);

    [Fact]
    public async Task Delete_removes_the_matching_comments_from_search_and_count_only()
    {
        var store = CreateStore();
        var comments = Enumerable.Range(0, 6).Select(i => Comment(i, $"note {i}")).ToList();
        foreach (var comment in comments)
            await store.AddAsync(comment, Cancel);

        Assert.Equal(2, await store.DeleteAsync(c => c.RaterId is "rater-1" or "rater-4", Cancel));
        Assert.Equal(0, await store.DeleteAsync(c => c.RaterId == "rater-1", Cancel));

        Assert.Equal(4, await store.CountAsync(Cancel));
        var left = (await store.SearchAsync(new CommentQuery(), 100, Cancel)).Comments;
        Assert.Equal(["note 5", "note 3", "note 2", "note 0"], left.Select(c => c.Comment));
        Assert.Empty((await store.SearchAsync(new CommentQuery(Text: "note 4"), 100, Cancel)).Comments);
    }

    [Fact]
    public async Task Retention_deletes_the_comments_submitted_before_the_cutoff_only()
    {
        var store = CreateStore();
        foreach (var minute in Enumerable.Range(0, 5))
            await store.AddAsync(Comment(minute, $"note {minute}"), Cancel);

        Assert.Equal(3, await store.DeleteOlderThanAsync(Start.AddMinutes(3), Cancel));
        Assert.Equal(0, await store.DeleteOlderThanAsync(Start.AddMinutes(3), Cancel));

        Assert.Equal(["note 4", "note 3"], (await store.SearchAsync(new CommentQuery(), 100, Cancel)).Comments.Select(c => c.Comment));
        Assert.Equal(2, await store.CountAsync(Cancel));
    }

    [Fact]
    public async Task A_comment_is_stored_once_by_feedback_id()
    {
        var store = CreateStore();
        var comment = Comment(0, "made up a source", "wrong");

        Assert.True(await store.AddAsync(comment, Cancel));
        Assert.False(await store.AddAsync(comment with { Comment = "changed" }, Cancel));

        var found = Assert.Single((await store.SearchAsync(new CommentQuery(), 100, Cancel)).Comments);
        Assert.Equal("made up a source", found.Comment);
        Assert.Equal(["wrong"], found.Flags);
        Assert.Equal(1, await store.CountAsync(Cancel));
    }

    [Fact]
    public async Task Search_matches_text_without_case_flag_and_rollout_newest_first_up_to_the_limit()
    {
        var store = CreateStore();
        var older = Comment(1, "The answer is WRONG", "wrong");
        var unsafeOne = Comment(2, null, "unsafe", "other");
        var newer = Comment(3, "wrong again, and rude", "wrong", "unhelpful");
        foreach (var comment in new[] { newer, older, unsafeOne }) // stored out of order: search orders by submission time
            await store.AddAsync(comment, Cancel);

        Assert.Equal([newer.FeedbackId, older.FeedbackId],
            (await store.SearchAsync(new CommentQuery(Text: "wrong"), 100, Cancel)).Comments.Select(c => c.FeedbackId));
        Assert.Equal([unsafeOne.FeedbackId], (await store.SearchAsync(new CommentQuery(Flag: "unsafe"), 100, Cancel)).Comments.Select(c => c.FeedbackId));
        Assert.Equal([older.FeedbackId], (await store.SearchAsync(new CommentQuery(RolloutId: older.RolloutId), 100, Cancel)).Comments.Select(c => c.FeedbackId));
        Assert.Empty((await store.SearchAsync(new CommentQuery(Text: "rude", Flag: "unsafe"), 100, Cancel)).Comments);
        var limited = await store.SearchAsync(new CommentQuery(Limit: 2), 100, Cancel);
        Assert.Equal([newer.FeedbackId, unsafeOne.FeedbackId], limited.Comments.Select(c => c.FeedbackId));
        Assert.False(limited.Truncated);
    }

    [Fact]
    public async Task A_search_stops_at_its_scan_limit_and_says_so()
    {
        var store = CreateStore();
        var match = Comment(0, "needle");
        await store.AddAsync(match, Cancel);
        for (var minute = 1; minute <= 5; minute++)
            await store.AddAsync(Comment(minute, "hay"), Cancel);

        var stopped = await store.SearchAsync(new CommentQuery(Text: "needle"), maxScan: 3, Cancel);
        var full = await store.SearchAsync(new CommentQuery(Text: "needle"), maxScan: 100, Cancel);

        Assert.Empty(stopped.Comments);
        Assert.Equal((3, true), (stopped.Scanned, stopped.Truncated));
        Assert.Equal(match.FeedbackId, Assert.Single(full.Comments).FeedbackId);
        Assert.False(full.Truncated);
    }
}

public sealed class InMemoryCommentStoreTests : CommentStoreContract
{
    protected override ICommentStore CreateStore() => new InMemoryCommentStore();
}

public sealed class RedisCommentStoreTests(RedisTestConnection redis) : CommentStoreContract, IClassFixture<RedisTestConnection>
{
    protected override ICommentStore CreateStore() => new RedisCommentStore(redis.Redis, $"{redis.KeyPrefix}{Guid.NewGuid():N}:");
}
