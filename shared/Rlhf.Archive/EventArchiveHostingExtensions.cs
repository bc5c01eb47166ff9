using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Rlhf.Archive;

public static class EventArchiveHostingExtensions
{
    /// <summary>
    /// Binds and validates <c>Archive</c> (a bad value stops the host, naming the key) and, when <c>Archive:Enabled</c>
    /// and the host's bus is on a <paramref name="broker"/> (null: the in-memory bus, nothing to declare), declares the
    /// archive stream at start-up, before the bus starts. Safe to call more than once.
    /// </summary>
    public static IHostApplicationBuilder AddEventArchive(this IHostApplicationBuilder builder, ArchiveBroker? broker)
    {
        var section = builder.Configuration.GetSection(EventArchiveOptions.SectionName);
        var archive = new EventArchiveOptions();
        section.Bind(archive);
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(archive, new ValidationContext(archive), results, validateAllProperties: true))
            throw new OptionsValidationException(EventArchiveOptions.SectionName, typeof(EventArchiveOptions),
                results.Select(r => $"{EventArchiveOptions.SectionName}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}").ToList());

        builder.Services.AddOptions<EventArchiveOptions>().Bind(section);
        if (archive.Enabled && broker is not null)
        {
            builder.Services.TryAddSingleton(broker);
            builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, EventArchiveDeclaration>());
        }

        return builder;
    }

    /// <summary>
    /// Keeps the Redis index of the archive (<see cref="ArchiveIndex"/>) up to date while the host runs, reading the stream
    /// on <paramref name="broker"/>. Needs Redis and the <c>Archive</c> section (<see cref="AddEventArchive"/>) registered.
    /// </summary>
    public static IServiceCollection AddArchiveIndexService(this IServiceCollection services, ArchiveBroker broker)
    {
        services.TryAddSingleton(broker);
        services.AddHostedService<ArchiveIndexService>();
        return services;
    }
}
