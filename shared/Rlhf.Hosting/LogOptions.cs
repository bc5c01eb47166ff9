namespace Rlhf.Hosting;

/// <summary>Console log format.</summary>
public enum LogFormat
{
    /// <summary>Human-readable lines.</summary>
    Text,

    /// <summary>Compact JSON (CLEF), one event per line, for log shippers.</summary>
    Json,
}

/// <summary>Configuration section <c>Log</c>. Levels are set in the usual <c>Serilog</c> section.</summary>
public sealed class LogOptions
{
    public const string SectionName = "Log";

    public LogFormat Format { get; set; } = LogFormat.Text;

    /// <summary>Write logs to the console (off when a tool owns the terminal, e.g. the demo's live display).</summary>
    public bool Console { get; set; } = true;

    /// <summary>Also write logs to this file (same format); empty for none.</summary>
    public string? File { get; set; }
}
