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
}
