using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Demo.Studies;

/// <summary>
/// <c>rlhf study peft</c>: the RLHF loop training LoRA adapters of rank 4, 8 and 32 (on every projection, alpha = 2 x
/// rank, actor step 3e-4: adapters need a larger step, see the README's LoRA ablation) against full fine-tuning
/// (step 3e-5): accuracy, trainable parameters, the size of the update the learner ships (adapters alone, or the whole
/// policy) and wall time.
/// </summary>
public sealed class PeftStudy : IStudy
{
    public string Name => "peft";

    public string Question => "Do LoRA adapters (rank 4 / 8 / 32) learn from feedback as well as full fine-tuning, and what do they save?";

    public const double LoraLearningRate = 3e-4;

    public StudyReport Run(StudyContext context, CancellationToken cancellationToken = default)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var size = context.Size;
        var bootstrap = context.Bootstrap(size.Bootstrap);
        (string Name, int Rank)[] variants = [("full fine-tuning", 0), ("LoRA r = 4", 4), ("LoRA r = 8", 8), ("LoRA r = 32", 32)];
        var arms = new List<Arm>();
        var trainable = new Dictionary<string, long>();
        var updateBytes = new Dictionary<string, long>();
        foreach (var (name, rank) in variants)
        {
            var runs = new List<SeedRun>();
            foreach (var seed in context.Seeds)
            {
                var options = size.Loop(seed);
                if (rank > 0)
                    options = options with
                    {
                        UseLora = true,
                        Lora = options.Lora with { Rank = rank, Alpha = 2 * rank },
                        Ppo = options.Ppo with { Actor = options.Ppo.Actor with { LearningRate = LoraLearningRate } },
                    };
                runs.Add(StudyRuns.Rlhf(context, bootstrap, options, $"{name} seed {seed}", cancellationToken, after: loop =>
                {
                    trainable[name] = loop.TrainableParameters;
                    updateBytes[name] = UpdateBytes(loop.Policy, options);
                }));
            }

            arms.Add(new Arm(name, runs));
        }

        var table = new StudyTable("LoRA vs full fine-tuning (mean ± sd over seeds)",
            ["actor", "trainable parameters", "update on the wire", "held-out greedy (end)", "held-out sampled (end)", "judgements to 90 %", "wall time per run (s)"],
            arms.Select(a => (IReadOnlyList<string>)[a.Name, trainable[a.Name].ToString("N0", System.Globalization.CultureInfo.InvariantCulture),
                $"{updateBytes[a.Name] / 1024.0:F0} KiB", a.GreedyByRound(size.Rounds)[^1].Format(true), a.SampledByRound(size.Rounds)[^1].Format(true),
                Curves.Reach(a.JudgementsToReach(0.9), size), a.Seconds.Format(false, "F0")]).ToList());
        return new StudyReport(Name, Question,
            StudyRuns.Setup(context, bootstrap) + $" LoRA on q/k/v/o/gate/up/down projections, alpha = 2 x rank, actor step {LoraLearningRate}; full fine-tuning: actor step 3e-5. " +
            "Update on the wire: the fp32 safetensors file the learner would publish (adapters alone for LoRA, the whole policy otherwise).",
            [table, Curves.GreedyTable("Held-out greedy accuracy per number of judgements (mean ± sd over seeds)", arms, size)],
            [Curves.AccuracyPlot("accuracy.png", "LoRA ranks vs full fine-tuning: held-out greedy accuracy", arms, size)],
            new { Size = size.Name, Seeds = context.Seeds, Arms = arms, TrainableParameters = trainable, UpdateBytes = updateBytes }, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Bytes of the file the learner would ship for this policy: adapter_model.safetensors or model.safetensors.</summary>
    static long UpdateBytes(CausalLM policy, LoopOptions options)
    {
        var directory = Path.Combine(Path.GetTempPath(), $"rlhf-study-peft-{Guid.NewGuid():N}");
        try
        {
            if (options.UseLora)
            {
                ModelCheckpoint.SaveAdapters(directory, policy, options.Lora);
                return new FileInfo(Path.Combine(directory, ModelCheckpoint.AdapterWeightsFile)).Length;
            }

            ModelCheckpoint.SavePolicy(directory, policy, new ByteTokenizer(), new CheckpointInfo(1));
            return Directory.EnumerateFiles(directory, "*.safetensors").Sum(f => new FileInfo(f).Length);
        }
        finally
        {
            if (Directory.Exists(directory))
                Directory.Delete(directory, recursive: true);
        }
    }
}
