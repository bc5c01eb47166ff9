using Rlhf.Generation.Routing;

namespace Rlhf.Generation.Tests;

public sealed class CanaryRouterTests
{
    const long Champion = 6;
    const long Canary = 7;

    static IEnumerable<string> Users(int count) => Enumerable.Range(0, count).Select(i => CanaryRouter.KeyOf($"user-{i}", "unused"));

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void The_canary_gets_its_share_of_10000_keys(double share)
    {
        var router = new CanaryRouter(share);

        var onCanary = Users(10_000).Count(key => router.Route(Champion, Canary, key) == Canary);

        // Binomial: 3 standard deviations are at most 150 keys of 10,000 (share 0.5).
        Assert.InRange(onCanary / 10_000.0, share - 0.015, share + 0.015);
        TestContext.Current.TestOutputHelper?.WriteLine($"share {share}: {onCanary} of 10000 keys on the canary");
    }

    [Fact]
    public void Share_0_sends_nothing_and_share_1_everything_to_the_canary()
    {
        Assert.All(Users(1_000), key => Assert.Equal(Champion, new CanaryRouter(0).Route(Champion, Canary, key)));
        Assert.All(Users(1_000), key => Assert.Equal(Canary, new CanaryRouter(1).Route(Champion, Canary, key)));
    }

    [Fact]
    public void Without_a_canary_every_key_goes_to_the_champion()
    {
        var router = new CanaryRouter(1);

        Assert.All(Users(100), key => Assert.Equal(Champion, router.Route(Champion, canaryVersion: null, key)));
    }

    [Fact]
    public void A_user_stays_on_one_side_and_two_routers_agree()
    {
        var first = new CanaryRouter(0.5);
        var second = new CanaryRouter(0.5);

        foreach (var key in Users(500))
        {
            var side = first.Route(Champion, Canary, key);
            Assert.All(Enumerable.Range(0, 5), _ => Assert.Equal(side, first.Route(Champion, Canary, key)));
            Assert.Equal(side, second.Route(Champion, Canary, key));
        }
    }

    [Fact]
    public void The_position_is_sha256_of_version_and_key_so_every_process_computes_the_same()
    {
        // Computed with Python: (int.from_bytes(sha256(b"7\nuser:alice").digest()[:8], "big") >> 11) / 2**53
        Assert.Equal(0.028818491921252964, CanaryRouter.Position(7, "user:alice"));
        Assert.Equal(0.779123712156949, CanaryRouter.Position(2, "user:alice"));
        Assert.Equal(0.44126389788386366, CanaryRouter.Position(7, "completion:chatcmpl-0"));
    }

    [Fact]
    public void A_new_canary_version_draws_a_fresh_set_of_users()
    {
        var router = new CanaryRouter(0.5);
        var keys = Users(10_000).ToList();

        var onFirst = keys.Where(key => router.IsCanary(Canary, key)).ToHashSet();
        var onSecond = keys.Where(key => router.IsCanary(Canary + 1, key)).ToHashSet();

        // Independent draws: about a quarter of the users are on both canaries, not half (the same set).
        Assert.InRange(onFirst.Intersect(onSecond).Count() / 10_000.0, 0.25 - 0.02, 0.25 + 0.02);
    }

    [Fact]
    public void The_key_is_the_user_when_given_else_the_completion_id()
    {
        Assert.Equal("user:alice", CanaryRouter.KeyOf("alice", "chatcmpl-1"));
        Assert.Equal("completion:chatcmpl-1", CanaryRouter.KeyOf(null, "chatcmpl-1"));
        Assert.Equal("completion:chatcmpl-1", CanaryRouter.KeyOf("", "chatcmpl-1"));
    }

    [Theory]
    [InlineData(-0.01)]
    [InlineData(1.01)]
    [InlineData(double.NaN)]
    public void A_share_outside_0_to_1_is_refused(double share) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new CanaryRouter(share));
}
