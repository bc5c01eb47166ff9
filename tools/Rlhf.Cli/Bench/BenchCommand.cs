using System.CommandLine;

namespace Rlhf.Cli.Bench;

/// <summary><c>rlhf bench ...</c>: speed and memory measurements that print ratios measured in one run.</summary>
static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Benchmarks: each prints its numbers and ratios measured in one run.");
        command.Subcommands.Add(DecodeBenchmark.Create());
        command.Subcommands.Add(SoakBenchmark.Create());
        command.Subcommands.Add(ServeBenchmark.Create());
        command.Subcommands.Add(PpoBenchmark.Create());
        command.Subcommands.Add(RewardModelBenchmark.Create());
        command.Subcommands.Add(ScoreBenchmark.Create());
        command.Subcommands.Add(FeedbackBenchmark.Create());
        command.Subcommands.Add(ChatBenchmark.Create());
        command.Subcommands.Add(SyncBenchmark.Create());
        return command;
    }
}
