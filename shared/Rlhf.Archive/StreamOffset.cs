using System.Globalization;
using RabbitMQ.Client;

namespace Rlhf.Archive;

/// <summary>Where a stream read starts: <c>first</c>, <c>last</c> (the last chunk), <c>next</c>, an offset, or a time.</summary>
public readonly record struct StreamOffset(object Value, string Text)
{
    /// <summary>Parses <c>first|last|next</c>, a non-negative offset, or an ISO 8601 time (UTC unless it names an offset).</summary>
    public static bool TryParse(string text, out StreamOffset offset)
    {
        offset = default;
        if (text is "first" or "last" or "next")
            offset = new StreamOffset(text, text);
        else if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            offset = new StreamOffset(number, text);
        else if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
            offset = new StreamOffset(new AmqpTimestamp(time.ToUnixTimeSeconds()), time.ToString("O", CultureInfo.InvariantCulture));
        else
            return false;
        return true;
    }

    public override string ToString() => Text;
}
