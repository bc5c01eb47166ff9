using Rlhf.Archive;
using Serilog.Core;
using Serilog.Events;

namespace Rlhf.Hosting.Privacy;

/// <summary>
/// <c>Privacy:RedactContent</c> for logs: every log event property named like content (<see cref="ContentRedaction.ContentNames"/>:
/// <c>Prompt</c>, <c>Content</c>, <c>Comment</c>, ...), at any depth of a destructured object, is replaced by its
/// marker before any sink renders or ships it. Runs after the other enrichers, so properties pushed by them are
/// covered too. Exception messages are not rewritten (they are the framework's text; see the README).
/// </summary>
public sealed class ContentRedactionEnricher : ILogEventEnricher
{
    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        List<LogEventProperty>? replaced = null;
        foreach (var (name, value) in logEvent.Properties)
        {
            var redacted = ContentRedaction.ContentNames.Contains(name) ? RedactContent(value) : Redact(value);
            if (!ReferenceEquals(redacted, value))
                (replaced ??= []).Add(new LogEventProperty(name, redacted));
        }

        if (replaced is null)
            return;
        foreach (var property in replaced)
            logEvent.AddOrUpdateProperty(property);
    }

    /// <summary>A value that is content as a whole: text and numbers sequences become markers; structures are searched by name.</summary>
    static LogEventPropertyValue RedactContent(LogEventPropertyValue value) => value switch
    {
        ScalarValue { Value: string text } => new ScalarValue(ContentRedaction.Marker(text)),
        SequenceValue sequence when sequence.Elements.All(e => e is ScalarValue { Value: int }) =>
            new ScalarValue(ContentRedaction.Marker([.. sequence.Elements.Select(e => (int)((ScalarValue)e).Value!)])),
        SequenceValue sequence => new SequenceValue(sequence.Elements.Select(RedactContent)),
        _ => Redact(value),
    };

    /// <summary>The same value, with content found by name inside structures and dictionaries replaced; the same instance when nothing is.</summary>
    static LogEventPropertyValue Redact(LogEventPropertyValue value)
    {
        switch (value)
        {
            case StructureValue structure:
            {
                var properties = structure.Properties
                    .Select(p => new LogEventProperty(p.Name, ContentRedaction.ContentNames.Contains(p.Name) ? RedactContent(p.Value) : Redact(p.Value)))
                    .ToList();
                return properties.Zip(structure.Properties).All(p => ReferenceEquals(p.First.Value, p.Second.Value))
                    ? value
                    : new StructureValue(properties, structure.TypeTag);
            }
            case SequenceValue sequence:
            {
                var elements = sequence.Elements.Select(Redact).ToList();
                return elements.Zip(sequence.Elements).All(e => ReferenceEquals(e.First, e.Second)) ? value : new SequenceValue(elements);
            }
            case DictionaryValue dictionary:
            {
                var elements = dictionary.Elements
                    .Select(e => new KeyValuePair<ScalarValue, LogEventPropertyValue>(e.Key,
                        e.Key.Value is string key && ContentRedaction.ContentNames.Contains(key) ? RedactContent(e.Value) : Redact(e.Value)))
                    .ToList();
                return elements.Zip(dictionary.Elements).All(e => ReferenceEquals(e.First.Value, e.Second.Value)) ? value : new DictionaryValue(elements);
            }
            default:
                return value;
        }
    }
}
