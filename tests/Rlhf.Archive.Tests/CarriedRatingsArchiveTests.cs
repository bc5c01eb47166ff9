using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using Rlhf.Contracts;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.Archive.Tests;

/// <summary>
/// Ratings published together (<see cref="RatingsSubmitted"/>, the feedback service's group commit) are one stream entry;
/// the archive's readers give back the ratings they carry, each as the <c>RatingSubmitted</c> line it would have been
/// alone (its feedback id as message id, its own correlation id), and the index finds them by group and correlation id.
/// </summary>
public sealed class CarriedRatingsArchiveTests : IAsyncDisposable
{
    readonly string queue = $"rlhf-archive-carrier-test-{Guid.NewGuid():N}";
    readonly string prefix = $"rlhf-test:carrier:{Guid.NewGuid():N}:";

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        await using var connection = await new ConnectionFactory { Uri = TestInfrastructure.RabbitMq }.CreateConnectionAsync(CancellationToken.None);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: CancellationToken.None);
        await channel.QueueDeleteAsync(queue, cancellationToken: CancellationToken.None);
    }

    [Fact]
    public async Task Ratings_published_together_are_read_back_and_indexed_as_the_ratings_they_carry()
    {
        using var host = ArchivingBus.Builder(queue).Build();
        await host.StartAsync(Cancel);

        var group = $"chatcmpl-carrier-{Guid.NewGuid():N}";
        var envelopeCorrelation = Guid.NewGuid();
        RatingSubmitted Rating(int value) =>
            new(Guid.NewGuid(), Guid.NewGuid(), group, RatingScale.Stars, value, $"rater-{value}", "tests", DateTimeOffset.UtcNow, PolicyVersion: 7);
        var carried = new[] { new CarriedRating(Rating(1), Guid.NewGuid()), new CarriedRating(Rating(2), null), new CarriedRating(Rating(5), Guid.NewGuid()) };
        try
        {
            await host.Services.GetRequiredService<IPublishEndpoint>().Publish(new RatingsSubmitted(carried),
                c => c.CorrelationId = envelopeCorrelation, Cancel);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }

        var lines = new List<string>();
        await foreach (var line in StreamArchiveReader.ReadAsync(TestInfrastructure.RabbitMq, queue, new StreamOffset("first", "first"), max: null,
                           idle: TimeSpan.FromSeconds(2), Cancel))
        {
            // Other tests publish to the same event exchanges, which this stream is bound to as well.
            if (line.Contains(group, StringComparison.Ordinal))
                lines.Add(line);
        }

        Assert.Equal(3, lines.Count);
        var read = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(read, r => Assert.Equal("RatingSubmitted", r.GetProperty("type").GetString()));
        Assert.Equal(carried.Select(c => c.Rating.FeedbackId), read.Select(r => r.GetProperty("messageId").GetGuid()));
        Assert.Equal(carried.Select(c => c.CorrelationId ?? envelopeCorrelation), read.Select(r => r.GetProperty("correlationId").GetGuid()));
        Assert.Single(read.Select(r => r.GetProperty("streamOffset").GetInt64()).Distinct());
        // Each line's message is the rating itself, as replay and export read a RatingSubmitted line.
        var dump = Path.Combine(Path.GetTempPath(), $"{queue}.jsonl");
        try
        {
            await File.WriteAllLinesAsync(dump, lines, Cancel);
            Assert.Equal(carried.Select(c => c.Rating), EventLogReader.Read(dump).Select(e => e.MessageAs<RatingSubmitted>()).ToList());
        }
        finally
        {
            File.Delete(dump);
        }

        // The index: one entry, three events, found by the group and by each rating's correlation id.
        var offset = read[0].GetProperty("streamOffset").GetInt64();
        await using var redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);
        var index = new ArchiveIndex(redis, prefix, queue);
        try
        {
            var body = await ReadEntryAsync(offset);
            Assert.Equal(3, await index.IndexAsync([new ArchiveEntry(offset, body)]));
            Assert.Equal([offset], await index.QueryAsync(new ArchiveQuery { GroupId = group }));
            Assert.Equal([offset], await index.QueryAsync(new ArchiveQuery { CorrelationId = carried[2].CorrelationId!.Value.ToString() }));
            Assert.Equal([offset], await index.QueryAsync(new ArchiveQuery { Types = new HashSet<string> { "RatingSubmitted" }, PolicyVersion = 7 }));
            Assert.Empty(await index.QueryAsync(new ArchiveQuery { Types = new HashSet<string> { "RatingsSubmitted" } }) ?? []);
        }
        finally
        {
            var server = redis.GetServers()[0];
            await foreach (var key in server.KeysAsync(pattern: prefix + "*"))
                await redis.GetDatabase().KeyDeleteAsync(key);
        }
    }

    async Task<byte[]> ReadEntryAsync(long offset)
    {
        await using var connection = await new ConnectionFactory { Uri = TestInfrastructure.RabbitMq }.CreateConnectionAsync(Cancel);
        await using var stream = await ArchiveStream.OpenAsync(connection, queue, offset, 10, Cancel);
        var entry = await stream.ReadAsync(TimeSpan.FromSeconds(5), Cancel);
        Assert.NotNull(entry);
        return entry.Value.Body.ToArray();
    }
}
