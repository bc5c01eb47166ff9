using System.Diagnostics;
using System.Text.Json;
using Rlhf.Testing;

namespace Rlhf.Cli.Tests;

/// <summary>
/// <c>rlhf study</c> as a child process at the <c>ci</c> size (a model too small to learn: this checks the machinery,
/// not the study's conclusions): the run folder holds the report, its plots and finite raw numbers.
/// </summary>
public sealed class StudyCommandTests
{
    [Fact]
    public async Task Sft_vs_rlhf_at_ci_size_writes_report_plots_and_finite_numbers()
    {
        var root = Path.Combine(Path.GetTempPath(), $"rlhf-study-test-{Guid.NewGuid():N}");
        var output = Path.Combine(root, "out");
        try
        {
            var (code, text) = await RunAsync("study", "sft-vs-rlhf", "--size", "ci", "--seeds", "1,2", "--threads", "1",
                "--out", output, "--cache-dir", Path.Combine(root, "cache"));
            Assert.True(code == 0, $"exit code {code}:{Environment.NewLine}{text}");
            Assert.Contains("| judgements | RLHF (RM + PPO-ptx) | SFT on preferred answers | SFT on demonstrations |", text);

            var report = await File.ReadAllTextAsync(Path.Combine(output, "report.md"), TestContext.Current.CancellationToken);
            Assert.Contains("# Study `sft-vs-rlhf`", report);
            Assert.Contains("seeds 1, 2", report);
            foreach (var plot in (string[])["accuracy.png", "accuracy_sampled.png"])
            {
                Assert.Contains($"]({plot})", report);
                var bytes = await File.ReadAllBytesAsync(Path.Combine(output, plot), TestContext.Current.CancellationToken);
                Assert.True(bytes.Length > 1000, $"{plot} has {bytes.Length} bytes");
                Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
            }

            using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "results.json"), TestContext.Current.CancellationToken));
            var numbers = Numbers(json.RootElement).ToList();
            Assert.NotEmpty(numbers);
            Assert.All(numbers, n => Assert.True(double.IsFinite(n.Value), $"{n.Path} = {n.Value}"));
            Assert.DoesNotContain(Strings(json.RootElement), s => s is "NaN" or "Infinity" or "-Infinity");
            var arms = json.RootElement.GetProperty("Raw").GetProperty("Arms");
            Assert.Equal(3, arms.GetArrayLength());
            foreach (var arm in arms.EnumerateArray())
            {
                var runs = arm.GetProperty("Runs");
                Assert.Equal([1, 2], runs.EnumerateArray().Select(r => r.GetProperty("Seed").GetInt32()));
                // ci size: 2 rounds of 4 questions -> the start and two points, at 0, 4 and 8 judgements.
                Assert.All(runs.EnumerateArray(), r => Assert.Equal([0, 4, 8], r.GetProperty("Curve").EnumerateArray().Select(p => p.GetProperty("Judgements").GetInt32())));
            }
        }
        finally
        {
            TestDirectory.Delete(root);
        }
    }

    [Theory]
    [InlineData("1,x", "--seeds expects comma-separated non-negative integers")]
    [InlineData(",", "--seeds needs at least one seed")]
    public async Task Bad_seeds_are_rejected_with_a_clear_message(string seeds, string message)
    {
        var (code, text) = await RunAsync("study", "data", "--size", "ci", "--seeds", seeds);
        Assert.Equal(2, code);
        Assert.Contains(message, text);
    }

    [Fact]
    public async Task Unknown_study_is_rejected_with_the_known_names()
    {
        var (code, text) = await RunAsync("study", "vibes", "--size", "ci");
        Assert.NotEqual(0, code);
        Assert.Contains("sft-vs-rlhf", text);
    }

    static async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        var start = DotnetChildProcess.StartInfo("rlhf.dll");
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("rlhf did not start");
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        var text = await stdout + await stderr;
        TestContext.Current.TestOutputHelper?.WriteLine(text);
        return (process.ExitCode, text);
    }

    static IEnumerable<(string Path, double Value)> Numbers(JsonElement element, string path = "$") => element.ValueKind switch
    {
        JsonValueKind.Number => [(path, element.GetDouble())],
        JsonValueKind.Object => element.EnumerateObject().SelectMany(p => Numbers(p.Value, $"{path}.{p.Name}")),
        JsonValueKind.Array => element.EnumerateArray().SelectMany((e, i) => Numbers(e, $"{path}[{i}]")),
        _ => [],
    };

    static IEnumerable<string> Strings(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => [element.GetString()!],
        JsonValueKind.Object => element.EnumerateObject().SelectMany(p => Strings(p.Value)),
        JsonValueKind.Array => element.EnumerateArray().SelectMany(Strings),
        _ => [],
    };
}
