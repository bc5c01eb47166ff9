using System.ComponentModel.DataAnnotations;

namespace Rlhf.Archive;

/// <summary>Configuration section <c>Archive</c>: the durable event archive, a RabbitMQ stream bound to every event exchange.</summary>
public sealed class EventArchiveOptions
{
    public const string SectionName = "Archive";

    /// <summary>Declare the archive stream at start-up (RabbitMQ transport only). Off by default.</summary>
    public bool Enabled { get; set; }

    /// <summary>Name of the stream queue.</summary>
    [Required]
    public string QueueName { get; set; } = "rlhf-archive";

    /// <summary>Retention by age, RabbitMQ's <c>x-max-age</c> syntax: a number and one of Y, M, D, h, m, s (<c>7D</c>, <c>12h</c>).</summary>
    [Required]
    [RegularExpression("^[0-9]+[YMDhms]$", ErrorMessage = "must be a number followed by Y, M, D, h, m or s, e.g. 7D")]
    public string MaxAge { get; set; } = "7D";

    /// <summary>Retention by size (<c>x-max-length-bytes</c>); the oldest segments go first. Default 10 GB.</summary>
    [Range(1, long.MaxValue)]
    public long MaxLengthBytes { get; set; } = 10_000_000_000;

    /// <summary>
    /// The broker user of the archive's own connections (declaring the stream, the dashboard's index), when it is not the
    /// bus's (<c>Bus:RabbitMq:Username</c>): <c>scripts/infra.sh users</c> creates <c>rlhf-archive</c>, which may declare,
    /// bind and read the stream and nothing else. Host, port, virtual host and TLS stay the bus's.
    /// </summary>
    public string? Username { get; set; }

    /// <summary>The password of <see cref="Username"/>.</summary>
    public string? Password { get; set; }
}
