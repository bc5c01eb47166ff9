using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;

namespace Rlhf.Deploy.Tests;

/// <summary>
/// Every configuration key the services bind, read from their options classes (each with a <c>SectionName</c>
/// constant): a deployment's environment key (<c>Learner__Canary__Enabled</c>) is valid when it walks from a section
/// through public settable properties (dictionaries take any key, lists an index) to a value its type can parse.
/// </summary>
public sealed class OptionsCatalog
{
    /// <summary>Keys the host itself reads, outside any options class.</summary>
    static readonly HashSet<string> HostKeys = new(StringComparer.OrdinalIgnoreCase) { "URLS", "ASPNETCORE_URLS", "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT" };

    readonly List<(string[] Section, Type Type)> sections;

    OptionsCatalog(List<(string[] Section, Type Type)> sections) => this.sections = sections;

    /// <summary>The options classes of every assembly of the five services and the shared libraries.</summary>
    public static OptionsCatalog Load()
    {
        string[] assemblies = ["Rlhf.Generation", "Rlhf.Feedback", "Rlhf.Reward", "Rlhf.Learner", "Rlhf.Dashboard", "Rlhf.Hosting", "Rlhf.Storage",
            "Rlhf.Archive"];
        var found = new List<(string[], Type)>();
        foreach (var assembly in assemblies.Select(name => Assembly.Load(name)))
            foreach (var type in assembly.GetTypes())
                if (type.GetField("SectionName", BindingFlags.Public | BindingFlags.Static) is { IsLiteral: true } field && field.GetRawConstantValue() is string section)
                    found.Add((section.Split(':'), type));
        return new OptionsCatalog(found);
    }

    public int SectionCount => sections.Count;

    /// <summary>Null when <paramref name="environmentKey"/> binds (and <paramref name="value"/> parses, when given); else why not.</summary>
    public string? Check(string environmentKey, string? value)
    {
        if (HostKeys.Contains(environmentKey) || environmentKey.StartsWith("OTEL_", StringComparison.Ordinal))
            return null;
        var path = environmentKey.Split("__");
        var reasons = new List<string>();
        foreach (var (section, type) in sections)
        {
            if (path.Length <= section.Length || !section.Select((s, i) => string.Equals(s, path[i], StringComparison.OrdinalIgnoreCase)).All(x => x))
                continue;
            if (Walk(type, path[section.Length..], value) is not { } reason)
                return null;
            reasons.Add($"{type.Name}: {reason}");
        }
        return reasons.Count == 0 ? $"no options class has section '{path[0]}'" : string.Join("; ", reasons);
    }

    static string? Walk(Type type, string[] rest, string? value)
    {
        if (rest.Length == 0)
            return IsLeaf(type) ? Parses(type, value) : $"{type.Name} is a section, not a value";
        if (IsLeaf(type))
            return $"{type.Name} is a value and has no '{rest[0]}'";
        if (DictionaryValueType(type) is { } valueType)
            return Walk(valueType, rest[1..], value);
        if (ListItemType(type) is { } itemType)
            return int.TryParse(rest[0], out _) ? Walk(itemType, rest[1..], value) : $"'{rest[0]}' is not an index";
        var property = type.GetProperty(rest[0], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
        if (property is null || (property.SetMethod is not { IsPublic: true } && IsLeaf(property.PropertyType)))
            return $"{type.Name} has no settable property '{rest[0]}'";
        return Walk(property.PropertyType, rest[1..], value);
    }

    static string? Parses(Type type, string? value)
    {
        // A value that Kubernetes or compose fills in ($(VAR), ${VAR}) is checked where it is defined, not here.
        if (value is null || value.Contains("$(", StringComparison.Ordinal) || value.Contains("${", StringComparison.Ordinal))
            return null;
        var target = Nullable.GetUnderlyingType(type) ?? type;
        if (target == typeof(string))
            return null;
        try
        {
            TypeDescriptor.GetConverter(target).ConvertFromInvariantString(value);
            return null;
        }
        catch (Exception ex) when (ex is FormatException or NotSupportedException or ArgumentException or OverflowException)
        {
            return string.Create(CultureInfo.InvariantCulture, $"'{value}' is not a {target.Name}");
        }
    }

    static bool IsLeaf(Type type)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        return target.IsPrimitive || target.IsEnum || target == typeof(string) || target == typeof(decimal) || target == typeof(TimeSpan)
            || target == typeof(DateTimeOffset) || target == typeof(DateTime) || target == typeof(Uri) || target == typeof(Guid);
    }

    static Type? DictionaryValueType(Type type) =>
        type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>))
            ?.GetGenericArguments()[1];

    static Type? ListItemType(Type type) =>
        type.IsArray ? type.GetElementType()
        : typeof(IEnumerable).IsAssignableFrom(type) && type.IsGenericType ? type.GetGenericArguments()[0]
        : null;
}
