namespace Rlhf.Archive;

/// <summary>The event log is missing or a line does not have the shape <c>Rlhf.Cli.Embedded.EventLog</c> writes.</summary>
public sealed class EventLogFormatException(string message) : Exception(message);
