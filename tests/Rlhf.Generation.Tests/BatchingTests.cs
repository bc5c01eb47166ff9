using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Rlhf.Generation.Batching;
using Rlhf.Generation.Policy;
using Rlhf.Generation.Tests.Support;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

public sealed class BatchingTests : IDisposable
{
    readonly TinyPolicy policy = new();

    public void Dispose() => policy.Dispose();

    [Fact]
    public async Task Concurrent_requests_are_decoded_in_shared_batches()
    {
        await using var host = new GenerationHost(policy.Directory, new Dictionary<string, string?> { ["Generation:BatchWindowMs"] = "1000" });
        await host.StatusAsync();
        var prompts = Enumerable.Range(0, 8).Select(i => new string('x', 1 + 7 * i)).ToList();

        var replies = await Task.WhenAll(prompts.Select((prompt, i) =>
            host.ChatAsync(GenerationHost.UserChat(prompt, new { seed = 40 + i, max_tokens = 6 + i, temperature = i % 2 == 0 ? 0.0 : 0.9 }))));

        Assert.All(replies, r => Assert.Equal(HttpStatusCode.OK, r.Status));
        Assert.Equal(8, replies.Select(r => r.Json.GetProperty("id").GetString()).Distinct().Count());
        var status = await host.StatusAsync();
        Assert.Equal(8, status.GetProperty("requests_served").GetInt64());
        Assert.Equal(8, status.GetProperty("sequences_served").GetInt64());
        Assert.InRange(status.GetProperty("batches_served").GetInt64(), 1, 3);

        // A seeded request gives the same text alone as it did inside the mixed batch.
        var alone = await host.ChatAsync(GenerationHost.UserChat(prompts[3], new { seed = 43, max_tokens = 9, temperature = 0.9 }));
        Assert.Equal(replies[3].Content(), alone.Content());
    }

    [Fact]
    public async Task A_full_queue_answers_429_with_retry_after()
    {
        await using var host = new GenerationHost(policy.Directory, new Dictionary<string, string?>
        {
            ["Generation:MaxQueueLength"] = "1",
            ["Generation:MaxBatchSize"] = "1",
            ["Generation:MaxN"] = "1",
            ["Generation:BatchWindowMs"] = "0",
        });
        await host.StatusAsync();

        var replies = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
            host.ChatAsync(GenerationHost.UserChat("Keep talking", new { seed = i, max_tokens = 200 }))));

        var busy = replies.Where(r => r.Status == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(busy);
        Assert.All(replies, r => Assert.Contains(r.Status, new[] { HttpStatusCode.OK, HttpStatusCode.TooManyRequests }));
        Assert.InRange(replies.Count(r => r.Status == HttpStatusCode.OK), 1, 11);
        Assert.All(busy, r => Assert.Equal(TimeSpan.FromSeconds(1), r.RetryAfter?.Delta));
        Assert.All(busy, r => Assert.Equal("application/json", r.ContentType?.MediaType));
        Assert.All(busy, r => Assert.Equal("rate_limit_error", r.Error.GetProperty("type").GetString()));
        var status = await host.StatusAsync();
        Assert.Equal(replies.Count(r => r.Status == HttpStatusCode.OK), status.GetProperty("requests_served").GetInt64());
    }

    [Fact]
    public async Task A_request_cancelled_while_waiting_is_never_decoded()
    {
        using var holder = new PolicyHolder();
        holder.SetBase(PolicyBase.Load(policy.Directory));
        holder.Serve(new ServedPolicy(ModelCheckpoint.LoadPolicy(policy.Directory), 0, DateTimeOffset.UtcNow), canary: null);
        var stats = new GenerationStats();
        var options = Options.Create(new GenerationOptions { MaxBatchSize = 4, BatchWindowMs = 0 });
        using var batcher = new GenerationBatcher(holder, stats, options, NullLogger<GenerationBatcher>.Instance);
        var prompt = TinyPolicy.Tokenizer.Encode(TinyPolicy.PromptFor("hi"));
        var withdrawn = new GenerationJob(prompt, new SamplingOptions(MaxNewTokens: 4, Seed: 1), 2, routedVersion: 0);
        var kept = new GenerationJob(prompt, new SamplingOptions(MaxNewTokens: 4, Seed: 1), 1, routedVersion: 0);
        using var giveUp = new CancellationTokenSource();

        // Both wait in the queue (the batcher is not running yet); one caller gives up.
        Assert.True(batcher.TryEnqueue(withdrawn));
        Assert.True(batcher.TryEnqueue(kept));
        var waiting = withdrawn.WaitAsync(giveUp.Token);
        giveUp.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        await batcher.StartAsync(TestContext.Current.CancellationToken);
        var result = await kept.WaitAsync(TestContext.Current.CancellationToken);
        await batcher.StopAsync(TestContext.Current.CancellationToken);

        Assert.Single(result.Choices);
        Assert.Equal(1, stats.BatchesServed);
        Assert.Equal(1, stats.RequestsServed);
        Assert.Equal(1, stats.SequencesServed);
        Assert.Equal(0, batcher.QueueLength);
    }

    [Fact]
    public async Task A_batch_runs_one_version_and_takes_the_waiting_jobs_of_that_version_only()
    {
        using var holder = ChampionAndCanary(out var stats, out var created);
        using var batcher = created;
        var prompt = TinyPolicy.Tokenizer.Encode(TinyPolicy.PromptFor("hi"));
        long[] routed = [0, 1, 0, 1, 0];
        var jobs = routed.Select(version => new GenerationJob(prompt, new SamplingOptions(MaxNewTokens: 2), 1, version)).ToList();
        Assert.All(jobs, job => Assert.True(batcher.TryEnqueue(job)));

        await batcher.StartAsync(TestContext.Current.CancellationToken);
        var results = await Task.WhenAll(jobs.Select(job => job.WaitAsync(TestContext.Current.CancellationToken)));
        await batcher.StopAsync(TestContext.Current.CancellationToken);

        Assert.Equal(routed, results.Select(r => r.PolicyVersion));
        Assert.Equal(2, stats.BatchesServed);
        Assert.Equal(new Dictionary<long, long> { [0] = 3, [1] = 2 }, stats.RequestsByVersion);
    }

    [Fact]
    public async Task A_job_routed_to_a_canary_that_ended_before_its_batch_runs_on_the_champion()
    {
        using var holder = ChampionAndCanary(out var stats, out var created);
        using var batcher = created;
        var prompt = TinyPolicy.Tokenizer.Encode(TinyPolicy.PromptFor("hi"));
        var job = new GenerationJob(prompt, new SamplingOptions(MaxNewTokens: 2), 1, routedVersion: 1);
        Assert.True(batcher.TryEnqueue(job));

        holder.Serve(holder.Champion!, canary: null);
        await batcher.StartAsync(TestContext.Current.CancellationToken);
        var result = await job.WaitAsync(TestContext.Current.CancellationToken);
        await batcher.StopAsync(TestContext.Current.CancellationToken);

        Assert.Equal(0, result.PolicyVersion);
        Assert.Equal(new Dictionary<long, long> { [0] = 1 }, stats.RequestsByVersion);
    }

    /// <summary>Champion 0 and canary 1 (the same weights; the versions tell them apart), and a batcher that is not started.</summary>
    PolicyHolder ChampionAndCanary(out GenerationStats stats, out GenerationBatcher batcher)
    {
        var holder = new PolicyHolder();
        holder.SetBase(PolicyBase.Load(policy.Directory));
        holder.Serve(new ServedPolicy(ModelCheckpoint.LoadPolicy(policy.Directory), 0, DateTimeOffset.UtcNow),
            new ServedPolicy(ModelCheckpoint.LoadPolicy(policy.Directory), 1, DateTimeOffset.UtcNow));
        stats = new GenerationStats();
        var options = Options.Create(new GenerationOptions { MaxBatchSize = 8, BatchWindowMs = 0 });
        batcher = new GenerationBatcher(holder, stats, options, NullLogger<GenerationBatcher>.Instance);
        return holder;
    }

    [Fact]
    public void A_full_queue_refuses_more_jobs()
    {
        using var holder = new PolicyHolder();
        var options = Options.Create(new GenerationOptions { MaxQueueLength = 2 });
        using var batcher = new GenerationBatcher(holder, new GenerationStats(), options, NullLogger<GenerationBatcher>.Instance);
        GenerationJob Job() => new([1, 2, 3], new SamplingOptions(MaxNewTokens: 1), 1, routedVersion: 0);

        Assert.True(batcher.TryEnqueue(Job()));
        Assert.True(batcher.TryEnqueue(Job()));
        Assert.False(batcher.TryEnqueue(Job()));
        Assert.Equal(2, batcher.QueueLength);
    }

    [Fact]
    public async Task Without_a_policy_chat_answers_503_and_the_status_says_so()
    {
        await using var host = new GenerationHost(modelPath: null);

        var reply = await host.ChatAsync(GenerationHost.UserChat("Anyone there?"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, reply.Status);
        Assert.Equal(TimeSpan.FromSeconds(5), reply.RetryAfter?.Delta);
        var status = await host.StatusAsync();
        Assert.Equal(System.Text.Json.JsonValueKind.Null, status.GetProperty("policy_version").ValueKind);
        Assert.Empty(host.Published.All);
    }
}
