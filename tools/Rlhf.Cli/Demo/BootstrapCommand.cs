using System.CommandLine;
using Rlhf.Demo;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Cli.Demo;

/// <summary><c>rlhf bootstrap</c>: trains (or reuses) the deliberately imperfect starting policy of the demo task.</summary>
static class BootstrapCommand
{
    public static Command Create()
    {
        var set = DemoTaskCommands.SetOption("--set SloppyShare=0.6");
        var threads = DemoTaskCommands.ThreadsOption();
        var cache = DemoTaskCommands.CacheOption();
        var examples = new Option<int>("--examples") { Description = "Print this many held-out questions with the policy's greedy and sampled replies", DefaultValueFactory = _ => 6 };
        var evaluateEvery = new Option<int>("--evaluate-every") { Description = "Measure held-out behaviour every N steps while training (0: at the end only)", DefaultValueFactory = _ => 0 };
        var command = new Command("bootstrap",
            "Train the demo's starting policy (clean fact text + noisy chat demonstrations), cached by a hash of its settings; " +
            "prints its held-out accuracy.") { set, threads, cache, examples, evaluateEvery };
        command.SetAction(parse =>
        {
            TorchRuntime.SetThreads(parse.GetValue(threads));
            var options = OptionOverrides.Apply(new BootstrapOptions(), parse.GetValue(set)!).Validate();
            var result = DemoTaskCommands.Bootstrap(options, parse.GetValue(cache) ?? DemoTaskCommands.DefaultCacheRoot(), parse.GetValue(evaluateEvery));
            PrintExamples(result, parse.GetValue(examples));
            return 0;
        });
        return command;
    }

    static void PrintExamples(BootstrapResult result, int count)
    {
        if (count <= 0)
            return;
        using var policy = result.LoadPolicy();
        var corpus = new DemoCorpus(new ByteTokenizer());
        var questions = DemoCorpus.Questions(result.Split.HeldOut).Where((_, i) => i % 7 == 0).Take(count).ToList();
        var greedy = PolicyEvaluator.Answer(policy, corpus, questions, _ => SamplingOptions.Greedy(Bootstrapper.MaxReplyTokens));
        var sampled = PolicyEvaluator.Answer(policy, corpus, questions,
            i => new SamplingOptions(Bootstrapper.MaxReplyTokens, Bootstrapper.EvaluationTemperature, Seed: i));
        for (var i = 0; i < questions.Count; i++)
            Console.WriteLine($"  {questions[i].Text,-26} greedy: {Quote(greedy[i]),-50} sampled: {Quote(sampled[i])}");
    }

    static string Quote(string text) => System.Text.Json.JsonSerializer.Serialize(text, QuoteOptions);

    static readonly System.Text.Json.JsonSerializerOptions QuoteOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
