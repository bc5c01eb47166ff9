using System.Globalization;
using Rlhf.Learner.Admin;
using Spectre.Console;

namespace Rlhf.Cli.Operations;

/// <summary>The table of <c>rlhf errors list</c>: one line per dead-lettered message.</summary>
static class DeadLetterTable
{
    /// <summary>Writes <paramref name="entries"/>, long texts cut to 80 characters.</summary>
    public static void Write(IReadOnlyList<DeadLetterQueues.Entry> entries, TextWriter output)
    {
        var table = ConsoleTables.Create(("#", Justify.Right), ("MESSAGE ID", Justify.Left), ("MESSAGE TYPE", Justify.Left), ("EXCEPTION", Justify.Left),
            ("FAULT MESSAGE", Justify.Left), ("FAULT TIME", Justify.Left));
        foreach (var e in entries)
        {
            table.AddTextRow([
                e.Position.ToString(CultureInfo.InvariantCulture), Cell(e.MessageId), Cell(e.MessageType), Cell(e.ExceptionType), Cell(e.FaultMessage),
                Cell(e.FaultTime),
            ]);
        }

        ConsoleTables.Write(table, output);
    }

    static string Cell(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            return "-";
        var line = string.Join(' ', text.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries)).Trim();
        return line.Length > 80 ? line[..77] + "..." : line;
    }
}
