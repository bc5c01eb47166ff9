namespace Rlhf.Cli.Tests;

/// <summary>
/// RSS is process-wide, so it is measured in a process of its own: the shipped CLI (its own runtimeconfig.json) runs
/// <c>rlhf bench soak</c>. DOTNET_GCgen0size forces the gen0 budget a machine reporting a 300 MiB L3 cache gets, so
/// the result does not depend on the cache size of the machine the test runs on.
/// </summary>
public sealed class SoakTests
{
    [Fact]
    public async Task Generate_calls_keep_RSS_flat_even_where_the_machine_would_allow_a_300_MiB_gen0_budget()
    {
        var result = await BenchRun.StartAsync(new Dictionary<string, string> { ["DOTNET_GCgen0size"] = "0x12C00000" },
            "soak", "--calls", "600", "--warmup", "200", "--new-tokens", "4");

        result.AssertFinite("live_tensors_start", "live_tensors_end", "garbage_kib_per_call", "growth_mib");
        Assert.Equal(result.Values["live_tensors_start"], result.Values["live_tensors_end"]);
        // 600 calls make ~120 MiB of managed garbage, all of it kept without the gen0 budget cap (1,000 calls grew RSS by
        // 123 MiB then); the check only means something while the garbage is well above the limit.
        Assert.True(result.Values["garbage_kib_per_call"] * 600 / 1024 > 60, "the soak made too little garbage to tell");
        Assert.True(result.Values["growth_mib"] <= 20, $"RSS grew {result.Values["growth_mib"]} MiB after the warm-up");
    }
}
