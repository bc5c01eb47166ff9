using Rlhf.Generation.Policy;
using Rlhf.Modeling;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

public sealed class PolicyHolderTests : IDisposable
{
    readonly TinyPolicy checkpoint = new();
    readonly PolicyHolder holder = new();

    public void Dispose()
    {
        holder.Dispose();
        checkpoint.Dispose();
    }

    ServedPolicy Load(long version) => new(ModelCheckpoint.LoadPolicy(checkpoint.Directory), version, DateTimeOffset.UtcNow);

    // A disposed module has released its parameters.
    static bool IsDisposed(ServedPolicy policy) => !policy.Model.parameters().Any();

    [Fact]
    public void A_batch_runs_on_the_version_it_was_routed_to_or_on_the_champion_when_that_one_is_not_served()
    {
        var champion = Load(1);
        var canary = Load(2);
        holder.Serve(champion, canary);

        Assert.Same(canary, holder.BeginBatch(2));
        holder.EndBatch();
        Assert.Same(champion, holder.BeginBatch(1));
        holder.EndBatch();
        Assert.Same(champion, holder.BeginBatch(99));
        holder.EndBatch();

        holder.Serve(champion, canary: null);
        Assert.Same(champion, holder.BeginBatch(2));
        holder.EndBatch();
    }

    [Fact]
    public void A_dropped_canary_is_disposed_at_once_when_no_batch_uses_it()
    {
        var champion = Load(1);
        var canary = Load(2);
        holder.Serve(champion, canary);

        holder.Serve(champion, canary: null);

        Assert.True(IsDisposed(canary));
        Assert.False(IsDisposed(champion));
        Assert.Null(holder.Canary);
    }

    [Fact]
    public void A_dropped_canary_in_a_running_batch_is_disposed_when_the_batch_ends()
    {
        var champion = Load(1);
        var canary = Load(2);
        holder.Serve(champion, canary);

        var inBatch = holder.BeginBatch(2);
        holder.Serve(champion, canary: null);

        Assert.Same(canary, inBatch);
        Assert.False(IsDisposed(canary));
        holder.EndBatch();
        Assert.True(IsDisposed(canary));
    }

    [Fact]
    public void A_promoted_canary_keeps_its_model_as_the_new_champion_and_the_old_champion_is_disposed()
    {
        var champion = Load(1);
        var canary = Load(2);
        holder.Serve(champion, canary);

        holder.Serve(canary, canary: null);

        Assert.Equal(new ServedPolicies(canary, null), holder.Served);
        Assert.False(IsDisposed(canary));
        Assert.True(IsDisposed(champion));
    }

    [Fact]
    public void The_champion_cannot_also_be_the_canary()
    {
        var champion = Load(1);
        holder.Serve(champion, canary: null);
        using var sameVersion = Load(1);

        Assert.Throws<ArgumentException>(() => holder.Serve(champion, sameVersion));
        Assert.Equal(new ServedPolicies(champion, null), holder.Served);
    }
}
