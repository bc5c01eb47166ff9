using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

public sealed class RewardHostTests() : ServiceHostContract<Program>("rlhf-reward")
{
    static RewardHostTests() => RewardTestHost.EnsureDefaultModelPath();
}
