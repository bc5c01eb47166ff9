using Rlhf.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rlhf.Archive;
using Rlhf.Hosting.Privacy;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace Rlhf.Hosting.Tests;

/// <summary><c>Privacy:RedactContent</c> in logs: a sink sees markers where content was, ids as they were.</summary>
public sealed class ContentRedactionTests
{
    sealed class CollectingSink : ILogEventSink
    {
        public List<LogEvent> Events { get; } = [];

        public void Emit(LogEvent logEvent) => Events.Add(logEvent);
    }

    static (Serilog.ILogger Logger, CollectingSink Sink) Logger()
    {
        var sink = new CollectingSink();
        return (new LoggerConfiguration().Enrich.FromLogContext().Enrich.With<ContentRedactionEnricher>().WriteTo.Sink(sink).CreateLogger(), sink);
    }

    [Fact]
    public void Content_properties_are_replaced_by_their_marker_and_ids_are_kept()
    {
        var (logger, sink) = Logger();

        logger.Information("Prompt {Prompt} of {GroupId} answered {ResponseText} ({PromptTokenIds})", "my card is 4111", "chatcmpl-1", "noted", new[] { 7, 8, 9 });

        var rendered = Assert.Single(sink.Events).RenderMessage();
        Assert.DoesNotContain("4111", rendered);
        Assert.DoesNotContain("noted", rendered);
        Assert.Contains(ContentRedaction.Marker("my card is 4111"), rendered);
        Assert.Contains("[redacted 15 chars sha256:70cf9ab19546]", rendered); // sha256sum of the text, first 12 hex digits
        Assert.Contains(ContentRedaction.Marker([7, 8, 9]), rendered);
        Assert.Contains("chatcmpl-1", rendered);
    }

    [Fact]
    public void Content_inside_destructured_objects_and_pushed_properties_is_replaced()
    {
        var (logger, sink) = Logger();

        using (Serilog.Context.LogContext.PushProperty("Comment", "call me at 555-0100"))
            logger.Information("Got {@Request}", new { GroupId = "chatcmpl-2", Messages = new[] { new { Role = "user", Content = "I live at 12 Elm Street" } } });

        var logEvent = Assert.Single(sink.Events);
        var all = string.Join(" ", logEvent.Properties.Select(p => p.Value.ToString()));
        Assert.DoesNotContain("Elm Street", all);
        Assert.DoesNotContain("555-0100", all);
        Assert.Contains("chatcmpl-2", all);
        Assert.Contains("user", all);
        Assert.Contains(ContentRedaction.Marker("I live at 12 Elm Street"), all);
    }

    [Fact]
    public async Task Service_defaults_redact_log_files_only_when_the_option_is_on()
    {
        foreach (var redact in new[] { true, false })
        {
            var file = Path.Combine(Path.GetTempPath(), $"rlhf-redaction-{Guid.NewGuid():N}.log");
            try
            {
                using (var host = FileLoggingHost.Build(file, new Dictionary<string, string?> { ["Privacy:RedactContent"] = redact ? "true" : "false" }))
                    host.Services.GetRequiredService<ILogger<ContentRedactionTests>>()
                        .LogInformation("Comment {Comment} on {GroupId}", "my secret comment", "chatcmpl-3");

                var text = await ServiceLogFile.WaitForAsync(file, t => t.Contains("chatcmpl-3"), TestContext.Current.CancellationToken);
                Assert.Contains("chatcmpl-3", text);
                Assert.Equal(!redact, text.Contains("my secret comment"));
                Assert.Equal(redact, text.Contains(ContentRedaction.Marker("my secret comment")));
            }
            finally
            {
                File.Delete(file);
            }
        }
    }
}
