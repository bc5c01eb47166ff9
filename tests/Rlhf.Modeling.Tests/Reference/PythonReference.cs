using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Rlhf.Modeling.Tests;

/// <summary>
/// Reference logits from <c>Reference/llama_reference.py</c>, an independent PyTorch forward pass written from the
/// Hugging Face LlamaForCausalLM / Qwen2ForCausalLM equations (float64 compute). It runs under
/// <c>$RLHF_PYTHON</c> (default <c>/usr/bin/python3</c>) with Debian's python3-torch and python3-numpy, which
/// <c>scripts/test.sh</c> installs. Any failure throws, so a parity test fails (never skips) when the reference
/// cannot run, and the exception message says why.
/// </summary>
/// <remarks>
/// Position ids, unless given, follow HF <c>generate()</c>: <c>cumsum(mask) - 1</c>, with masked positions set to 1,
/// so left- and right-padded rows number their real tokens 0, 1, 2, ... Keys where the mask is 0 are never attended
/// to. Logits at masked positions are not meaningful: compare only positions where the mask is 1.
/// </remarks>
public static class PythonReference
{
    /// <summary>Hint put in the exception message when the interpreter lacks torch or numpy.</summary>
    public const string InstallHint =
        "python3-torch is not installed: run scripts/test.sh or apt-get install python3-torch python3-numpy";

    /// <summary>How long one reference run may take before it is killed and the call throws.</summary>
    public static TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>The interpreter: <c>$RLHF_PYTHON</c>, else <c>/usr/bin/python3</c>.</summary>
    public static string PythonExecutable =>
        Environment.GetEnvironmentVariable("RLHF_PYTHON") is { Length: > 0 } python ? python : "/usr/bin/python3";

    /// <summary>The script, copied next to the test assembly by the test project.</summary>
    public static string ScriptPath => Path.Combine(AppContext.BaseDirectory, "Reference", "llama_reference.py");

    /// <summary>
    /// Logits <c>[B, T, V]</c> of the HF-format checkpoint in <paramref name="checkpointDir"/> (<c>config.json</c> and
    /// <c>model.safetensors</c>) for <paramref name="inputIds"/> (B rows of equal length T).
    /// </summary>
    /// <param name="checkpointDir">Directory holding <c>config.json</c> and <c>model.safetensors</c>.</param>
    /// <param name="inputIds">Token ids, one row per sequence, all rows the same length.</param>
    /// <param name="attentionMask">1 for real tokens, 0 for padding (left or right); all ones when null.</param>
    /// <param name="positionIds">Explicit RoPE positions; when null they are derived from the mask as described above.</param>
    public static float[,,] Logits(
        string checkpointDir, long[][] inputIds, long[][]? attentionMask = null, long[][]? positionIds = null)
    {
        ArgumentNullException.ThrowIfNull(checkpointDir);
        ArgumentNullException.ThrowIfNull(inputIds);
        int batch = inputIds.Length;
        if (batch == 0) throw new ArgumentException("inputIds has no rows.", nameof(inputIds));
        int time = inputIds[0]?.Length ?? 0;
        if (time == 0) throw new ArgumentException("inputIds rows must be non-empty.", nameof(inputIds));
        CheckShape(inputIds, batch, time, nameof(inputIds));
        if (attentionMask is not null) CheckShape(attentionMask, batch, time, nameof(attentionMask));
        if (positionIds is not null) CheckShape(positionIds, batch, time, nameof(positionIds));

        string script = ScriptPath;
        if (!File.Exists(script))
        {
            throw new InvalidOperationException(
                $"Reference script not found at {script}: the test project must copy Reference/llama_reference.py " +
                "to its output directory (<None Include=\"Reference\\llama_reference.py\" CopyToOutputDirectory=\"PreserveNewest\" />).");
        }

        string tempDir = Path.Combine(Path.GetTempPath(), "rlhf-pyref-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(tempDir);
        try
        {
            string inputPath = Path.Combine(tempDir, "input.json");
            string outputPath = Path.Combine(tempDir, "output.json");
            WriteInput(inputPath, inputIds, attentionMask, positionIds);
            Run(script, Path.GetFullPath(checkpointDir), inputPath, outputPath);
            return ReadLogits(outputPath, batch, time);
        }
        finally
        {
            try { Directory.Delete(tempDir, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    static void CheckShape(long[][] rows, int batch, int time, string name)
    {
        if (rows.Length != batch)
            throw new ArgumentException($"{name} has {rows.Length} rows, expected {batch}.", name);
        for (int b = 0; b < rows.Length; b++)
        {
            if (rows[b] is null || rows[b].Length != time)
                throw new ArgumentException($"{name} row {b} has length {rows[b]?.Length ?? 0}, expected {time}.", name);
        }
    }

    static void WriteInput(string path, long[][] inputIds, long[][]? attentionMask, long[][]? positionIds)
    {
        using var stream = File.Create(path);
        using var writer = new Utf8JsonWriter(stream);
        writer.WriteStartObject();
        WriteMatrix(writer, "input_ids", inputIds);
        if (attentionMask is not null) WriteMatrix(writer, "attention_mask", attentionMask);
        if (positionIds is not null) WriteMatrix(writer, "position_ids", positionIds);
        writer.WriteEndObject();
    }

    static void WriteMatrix(Utf8JsonWriter writer, string name, long[][] rows)
    {
        writer.WriteStartArray(name);
        foreach (var row in rows)
        {
            writer.WriteStartArray();
            foreach (long value in row) writer.WriteNumberValue(value);
            writer.WriteEndArray();
        }
        writer.WriteEndArray();
    }

    static void Run(string script, string checkpointDir, string inputPath, string outputPath)
    {
        string python = PythonExecutable;
        var startInfo = new ProcessStartInfo(python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        foreach (var arg in new[] { script, checkpointDir, inputPath, outputPath }) startInfo.ArgumentList.Add(arg);

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        try
        {
            process.Start();
        }
        catch (Exception ex) when (ex is Win32Exception or FileNotFoundException)
        {
            throw new InvalidOperationException(
                $"Could not start the reference interpreter '{python}' (set RLHF_PYTHON to override): {ex.Message}. {InstallHint}", ex);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        if (!process.WaitForExit(Timeout))
        {
            try { process.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { }
            process.WaitForExit();
            throw new InvalidOperationException(
                $"Reference forward timed out after {Timeout.TotalSeconds:0} s: {python} {script} {checkpointDir}\n" +
                $"stderr:\n{Snapshot(stderr)}");
        }
        process.WaitForExit(); // drains the asynchronous stdout/stderr readers

        string err = Snapshot(stderr);
        if (process.ExitCode != 0)
        {
            bool missingTorch = err.Contains("No module named 'torch'", StringComparison.Ordinal)
                || err.Contains("No module named 'numpy'", StringComparison.Ordinal);
            throw new InvalidOperationException(
                (missingTorch ? InstallHint + "\n" : "") +
                $"Reference forward failed (exit {process.ExitCode}): {python} {script} {checkpointDir}\n" +
                $"stderr:\n{err}" +
                (stdout.Length > 0 ? $"stdout:\n{Snapshot(stdout)}" : ""));
        }
        if (!File.Exists(outputPath))
        {
            throw new InvalidOperationException(
                $"Reference forward exited 0 but wrote no {outputPath}.\nstderr:\n{err}");
        }
    }

    static string Snapshot(StringBuilder sb)
    {
        lock (sb) return sb.ToString();
    }

    static float[,,] ReadLogits(string path, int batch, int time)
    {
        using var stream = File.OpenRead(path);
        using var doc = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 16 });
        var root = doc.RootElement;
        var shape = root.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        if (shape.Length != 3 || shape[0] != batch || shape[1] != time)
        {
            throw new InvalidOperationException(
                $"Reference output shape [{string.Join(", ", shape)}] does not match input [{batch}, {time}, V].");
        }
        int vocab = shape[2];
        var logits = new float[batch, time, vocab];
        int b = 0;
        foreach (var rowB in root.GetProperty("logits").EnumerateArray())
        {
            if (b >= batch) throw new InvalidOperationException($"Reference logits has more than {batch} rows.");
            int t = 0;
            foreach (var rowT in rowB.EnumerateArray())
            {
                if (t >= time) throw new InvalidOperationException($"Reference logits[{b}] has more than {time} rows.");
                int v = 0;
                foreach (var value in rowT.EnumerateArray())
                {
                    if (v >= vocab) throw new InvalidOperationException($"Reference logits[{b}, {t}] has more than {vocab} values.");
                    logits[b, t, v++] = (float)value.GetDouble();
                }
                if (v != vocab) throw new InvalidOperationException($"Reference logits[{b}, {t}] has {v} values, expected {vocab}.");
                t++;
            }
            if (t != time) throw new InvalidOperationException($"Reference logits[{b}] has {t} rows, expected {time}.");
            b++;
        }
        if (b != batch) throw new InvalidOperationException($"Reference logits has {b} rows, expected {batch}.");
        return logits;
    }
}
