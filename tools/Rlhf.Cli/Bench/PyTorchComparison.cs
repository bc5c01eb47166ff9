using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics.X86;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Rlhf.Cli.Bench;

/// <summary>
/// Runs the PyTorch side of a benchmark (<c>torch_bench.py</c>, next to rlhf.dll) with Debian's python3-torch in the
/// same invocation: same weights (checkpoints this process saved), same work, same thread count. OpenBLAS 0.3.21 does
/// not recognise recent Intel cores and falls back to SSE3 kernels, so OPENBLAS_CORETYPE is set to
/// <c>--openblas-coretype</c> (default SkylakeX on an AVX-512 CPU, else whatever the environment says); the script
/// reports the BLAS library and core it ran and a float64 GEMM check.
/// </summary>
static class PyTorchComparison
{
    public const string ScriptName = "torch_bench.py";

    public static Option<bool> CompareOption() =>
        new("--compare-pytorch") { Description = "Also run the same work in eager PyTorch (python3-torch) on the same weights and print the ratio" };

    public static Option<string?> CoreTypeOption() => new("--openblas-coretype")
    {
        Description = "OPENBLAS_CORETYPE for the PyTorch side (default: SkylakeX on an AVX-512 CPU, else the environment's)",
        DefaultValueFactory = _ => Avx512F.IsSupported ? "SkylakeX" : Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE"),
    };

    /// <summary>The OPENBLAS_CORETYPE <see cref="Run"/> gives the script; set from <see cref="CoreTypeOption"/>.</summary>
    public static string? CoreType { get; set; } = Avx512F.IsSupported ? "SkylakeX" : null;

    public static string Python => Environment.GetEnvironmentVariable("RLHF_PYTHON") is { Length: > 0 } python ? python : "/usr/bin/python3";

    /// <summary>Runs one task; returns the script's <c>result</c> object and prints its environment line.</summary>
    public static JsonObject Run(string task, JsonObject spec)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Bench", ScriptName);
        if (!File.Exists(script))
            throw new FileNotFoundException($"The PyTorch side of the benchmark is missing: {script}", script);
        var directory = Directory.CreateTempSubdirectory("rlhf-bench-torch-");
        try
        {
            spec["task"] = task;
            spec["threads"] = get_num_threads();
            var specPath = Path.Combine(directory.FullName, "spec.json");
            var resultPath = Path.Combine(directory.FullName, "result.json");
            File.WriteAllText(specPath, spec.ToJsonString());
            var start = new ProcessStartInfo(Python) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var arg in (string[])[script, specPath, resultPath])
                start.ArgumentList.Add(arg);
            start.Environment["OMP_NUM_THREADS"] = get_num_threads().ToString(CultureInfo.InvariantCulture);
            if (!string.IsNullOrEmpty(CoreType))
                start.Environment["OPENBLAS_CORETYPE"] = CoreType;
            Process process;
            try
            {
                process = Process.Start(start) ?? throw new InvalidOperationException($"{Python} did not start");
            }
            catch (System.ComponentModel.Win32Exception error)
            {
                throw new InvalidOperationException(
                    $"--compare-pytorch needs python3 with torch ({Python}; set RLHF_PYTHON, or apt-get install python3-torch): {error.Message}", error);
            }

            using (process)
            {
                var output = process.StandardOutput.ReadToEndAsync();
                var error = process.StandardError.ReadToEndAsync();
                process.WaitForExit();
                if (process.ExitCode != 0 || !File.Exists(resultPath))
                    throw new InvalidOperationException(
                        $"The PyTorch side failed (exit {process.ExitCode}; needs python3-torch and python3-numpy):{Environment.NewLine}{output.Result}{error.Result}");
            }

            var result = JsonNode.Parse(File.ReadAllText(resultPath))!.AsObject();
            Console.WriteLine(Describe(result["env"]!.AsObject()));
            return result["result"]!.AsObject();
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    static string Describe(JsonObject env)
    {
        var blas = env["blas"]!;
        var gemm = env["gemm"]!;
        var kind = (string?)blas["kind"];
        var core = (string?)blas["openblas_core"];
        return FormattableString.Invariant(
                $"pytorch: torch {env["torch"]}, threads {env["threads"]}, CPU capability {env["cpu_capability"]}, BLAS {kind} ({blas["library"]})")
            + (core is null ? "" : $", OpenBLAS core {core}, OPENBLAS_CORETYPE={(string?)env["OPENBLAS_CORETYPE"] ?? "unset"}")
            + FormattableString.Invariant(
                $"; GEMM check 512^3 fp32 vs fp64 max rel. error {(double)gemm["max_relative_error"]!:E1}, 1024^3 {(double)gemm["gflops_1024"]!:F0} GFLOP/s");
    }

    /// <summary>Ratio line: ours / theirs for a higher-is-better rate.</summary>
    public static string Ratio(string what, double ours, double theirs) =>
        string.Create(CultureInfo.InvariantCulture, $"{what}: C# {ours:F1} vs PyTorch {theirs:F1} = {ours / theirs:F2}x");
}
