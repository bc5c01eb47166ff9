namespace Rlhf.Cli.Tests;

/// <summary>
/// Each <c>rlhf bench</c> command run at a tiny size: it finishes, prints its summary with finite numbers, and the
/// PyTorch comparison computes the same thing on the same weights. Speed is never asserted here (benchmarks print
/// ratios measured in one run; a test's timing depends on the machine).
/// </summary>
public sealed class BenchTests
{
    [Fact]
    public async Task Decode_saves_its_models_and_PyTorch_decodes_the_saved_checkpoint_to_the_same_tokens()
    {
        var directory = Directory.CreateTempSubdirectory("rlhf-bench-test-");
        try
        {
            var saved = await BenchRun.StartAsync("decode", "--model", "tiny", "--batch", "1", "2", "--prompt-tokens", "4", "--new-tokens", "4",
                "--runs", "1", "--save-models", directory.FullName);
            saved.AssertFinite("tiny_b1_kv_tps", "tiny_b1_nocache_tps", "tiny_b2_kv_tps");
            Assert.True(File.Exists(Path.Combine(directory.FullName, "tiny", "config.json")));
            Assert.True(File.Exists(Path.Combine(directory.FullName, "tiny", "model.safetensors")));

            var compared = await BenchRun.StartAsync("decode", "--checkpoint", Path.Combine(directory.FullName, "tiny"), "--batch", "1", "3",
                "--prompt-tokens", "5", "--new-tokens", "6", "--runs", "1", "--compare-pytorch");
            compared.AssertFinite("tiny_b1_kv_tps", "tiny_b1_pytorch_tps", "tiny_b1_ratio", "tiny_b3_same_tokens");
            Assert.Equal(1, compared.Values["tiny_b1_same_tokens"]);
            Assert.Equal(3, compared.Values["tiny_b3_same_tokens"]);
            Assert.Contains("BLAS", compared.Output, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Ppo_step_reports_its_share_of_the_measured_GEMM_peak_and_PyTorch_starts_from_the_same_KL()
    {
        var run = await BenchRun.StartAsync("ppo", "--model", "tiny", "--rollouts", "4", "--prompt-tokens", "4", "--response-tokens", "4",
            "--epochs", "1", "--mini-batch", "2", "--compare-pytorch");

        run.AssertFinite("seconds_per_step", "gflops", "peak_gflops", "share_of_peak", "kl", "pytorch_seconds_per_step", "ratio", "pytorch_kl");
        Assert.True(run.Values["peak_gflops"] > 0 && run.Values["share_of_peak"] > 0);
        // Same weights, same rollouts: the reference log-probs, hence the KL before the first update, agree.
        Assert.True(Math.Abs(run.Values["kl"] - run.Values["pytorch_kl"]) < 1e-4, $"KL {run.Values["kl"]} vs PyTorch {run.Values["pytorch_kl"]}");
    }

    [Fact]
    public async Task Reward_model_step_has_the_same_first_loss_in_PyTorch()
    {
        var run = await BenchRun.StartAsync("rm", "--model", "tiny", "--rankings", "2", "--responses", "3", "--prompt-tokens", "4",
            "--response-tokens", "4", "--steps", "1", "--compare-pytorch");

        run.AssertFinite("seconds_per_step", "rankings_per_second", "gflops", "share_of_peak", "loss", "pytorch_loss", "ratio");
        Assert.True(Math.Abs(run.Values["loss"] - run.Values["pytorch_loss"]) < 1e-4, $"loss {run.Values["loss"]} vs PyTorch {run.Values["pytorch_loss"]}");
    }

    [Fact]
    public async Task Score_compares_scoring_with_generation_and_PyTorch_gives_the_same_scores()
    {
        var run = await BenchRun.StartAsync("score", "--rollouts", "6", "--batch-size", "4", "--generation-batch", "2", "--prompt-tokens", "4",
            "--response-tokens", "4", "--runs", "1", "--compare-pytorch");

        run.AssertFinite("generated_per_second", "scored_per_second", "keep_up_ratio", "pytorch_scored_per_second", "max_score_difference");
        Assert.True(run.Values["max_score_difference"] < 1e-4, $"scores differ by {run.Values["max_score_difference"]}");
    }

    [Fact]
    public async Task Feedback_load_on_the_self_started_intake_reaches_the_reward_journal_and_never_journals_more_than_the_202s()
    {
        var run = await BenchRun.StartAsync("feedback", "--warmup-seconds", "1", "--seconds", "1", "--connections", "2", "--groups", "2", "--drain-seconds", "60");

        run.AssertFinite("accepted", "warmup_accepted", "rate", "p50_ms", "p99_ms", "journal_added", "journal_equal");
        Assert.True(run.Values["accepted"] > 0, "no feedback was accepted");
        Assert.True(run.Values["warmup_accepted"] > 0, "no feedback was accepted during the warm-up");
        Assert.True(run.Values["journal_added"] > 0, "nothing reached the journal");
        Assert.True(run.Values["journal_added"] <= run.Values["accepted"] + run.Values["warmup_accepted"],
            "the journal holds more entries than there were 202s (warm-up included)");
        Assert.True(run.Values["p50_ms"] <= run.Values["p99_ms"]);
    }

    [Fact]
    public async Task Serve_compares_continuous_with_static_batching_and_prints_both_bounds()
    {
        var run = await BenchRun.StartAsync("serve", "--clients", "3", "--requests", "2", "--min-tokens", "2", "--max-tokens", "6", "--batch", "2");

        run.AssertFinite("ratio", "bound", "prefill_bound", "static_steps", "continuous_steps", "tokens", "prefill_1_ms", "prefill_2_ms", "step_ms");
        Assert.True(run.Values["ratio"] > 0 && run.Values["bound"] >= 1 && run.Values["prefill_bound"] > 0);
        // 6 requests of at most 6 tokens each (a sampled stop token can end one earlier).
        Assert.InRange(run.Values["tokens"], 6, 36);
        Assert.Contains("one pool the clients draw from", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sync_loads_the_published_weights_into_every_replica_and_times_each_stage()
    {
        var run = await BenchRun.StartAsync("sync", "--model", "tiny", "--runs", "1", "--replicas", "2", "--blob-store", "memory", "--lora-rank", "8");

        run.AssertFinite("tiny_mb", "tiny_export_s", "tiny_put_s", "tiny_replicas_s", "tiny_total_s", "tiny_median_total_s",
            "tiny_lora8_mb", "tiny_lora8_export_s", "tiny_lora8_put_s", "tiny_lora8_replicas_s", "tiny_lora8_total_s", "tiny_lora8_first_total_s");
        Assert.InRange(run.Values["tiny_mb"], 3, 4);   // 0.89M float32 parameters
        Assert.Equal(run.Values["tiny_export_s"] + run.Values["tiny_put_s"] + run.Values["tiny_replicas_s"], run.Values["tiny_total_s"], 3);
        // Rank 8 on the 7 projections of 4 layers of width 128 (MLP 384): 4 x 8 x (4 x 256 + 3 x 512) = 81,920 float32 = 0.33 MB plus the header.
        Assert.InRange(run.Values["tiny_lora8_mb"], 0.327, 0.34);
        Assert.Equal(run.Values["tiny_lora8_export_s"] + run.Values["tiny_lora8_put_s"] + run.Values["tiny_lora8_replicas_s"], run.Values["tiny_lora8_total_s"], 3);
        Assert.Contains("LoRA r=8", run.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sync", "--blob-store", "s3")]
    [InlineData("feedback", "--feedback-url", "http://127.0.0.1:1")]
    [InlineData("chat", "--chat-url", "http://127.0.0.1:1", "--warmup-seconds", "0", "--seconds", "1")]
    [InlineData("chat", "--chat-url", "http://127.0.0.1:1", "--learner-pid", "0")]
    [InlineData("ppo", "--rollouts", "0")]
    [InlineData("rm", "--responses", "1")]
    [InlineData("score", "--model", "huge")]
    [InlineData("decode", "--checkpoint", "/nonexistent/rlhf-bench-checkpoint")]
    public async Task Bad_arguments_end_with_a_clear_error_and_exit_code_1(params string[] args)
    {
        var run = await BenchRun.StartAsync(args);

        Assert.Equal(1, run.Code);
        Assert.Contains("error:", run.Output, StringComparison.Ordinal);
    }
}
