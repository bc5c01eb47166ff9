using System.Text.Json;
using Rlhf.Contracts;
using static Rlhf.Cli.Tests.EventLogFixture;

namespace Rlhf.Cli.Tests;

/// <summary>Replay and export skip what a <see cref="UserDataDeleted"/> in the log covers: the user's groups and answers, and the user as a rater up to the deletion.</summary>
public sealed class ErasedEventsTests(EventLogFixture log) : IClassFixture<EventLogFixture>
{
    static readonly DateTimeOffset DeletedAt = Start.AddSeconds(30);

    /// <summary>The fixture's log with deletion events appended (as the log writes them: after what they cover).</summary>
    string LogWith(params UserDataDeleted[] deletions)
    {
        var path = Path.Combine(log.Folder, $"erased-{Guid.NewGuid():N}.jsonl");
        var web = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        File.WriteAllLines(path, File.ReadAllLines(log.Path).Concat(deletions.Select(d => JsonSerializer.Serialize(new
        {
            type = nameof(UserDataDeleted), messageId = Guid.NewGuid(), correlationId = (Guid?)null, sentTime = d.DeletedAt, message = d,
        }, web))));
        return path;
    }

    static UserDataDeleted GroupOne => new("user-of-g1", DeletedAt, ["g1"], [.. new[] { "a1", "a2", "a3", "a4" }.Select(n => Guid.Parse(Id(n)))]);

    [Fact]
    public void Export_leaves_out_the_pairs_of_a_deleted_users_group()
    {
        var (code, lines, error) = RunCli("export", "preferences", "--events", LogWith(GroupOne));

        Assert.Equal(0, code);
        var pairs = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal([("B1", "B2"), ("B1", "B3"), ("B1", "B4")], pairs.Select(p => (p.GetProperty("chosen").GetString(), p.GetProperty("rejected").GetString())));
        Assert.DoesNotContain(lines, l => l.Contains("2 + 2"));
        Assert.Contains("exported 3 pairs", error);
    }

    [Fact]
    public void Replay_skips_every_event_of_the_group_and_keeps_the_deletion_itself()
    {
        var (code, lines, _) = RunCli("replay", "--events", LogWith(GroupOne));

        Assert.Equal(0, code);
        var types = lines.Select(l => JsonDocument.Parse(l).RootElement).Select(e => (e.GetProperty("type").GetString(), e.GetProperty("message"))).ToList();
        Assert.DoesNotContain(types, t => t.Item1 != nameof(UserDataDeleted) && t.Item2.GetRawText().Contains("\"g1\""));
        Assert.DoesNotContain(types, t => t.Item1 != nameof(UserDataDeleted) && t.Item2.GetRawText().Contains(Id("a1")));
        Assert.DoesNotContain(lines, l => l.Contains("What is 2 + 2?"));
        Assert.Single(types, t => t.Item1 == nameof(UserDataDeleted));
        // Kept: g2's four rollouts, its score, its two rankings, the ranking of unknown rollouts, the policy update.
        Assert.Equal(9, types.Count(t => t.Item1 != nameof(UserDataDeleted)));
    }

    [Fact]
    public void A_deleted_rater_loses_the_rankings_made_before_the_deletion()
    {
        var (_, lines, error) = RunCli("export", "preferences", "--events", LogWith(new UserDataDeleted("rater-2", DeletedAt, [], [])));

        Assert.DoesNotContain(lines, l => l.Contains("\"rater-2\""));
        Assert.Contains("exported 5 pairs", error);
    }

    [Fact]
    public void A_deletion_before_the_events_covers_groups_but_not_the_raters_later_rankings()
    {
        var (_, _, error) = RunCli("export", "preferences", "--events", LogWith(new UserDataDeleted("rater-2", Start.AddSeconds(-1), [], [])));

        Assert.Contains("exported 8 pairs", error);
    }
}
