namespace Rlhf.Demo.Studies;

/// <summary>One experiment anyone can rerun: <c>rlhf study {Name}</c>.</summary>
public interface IStudy
{
    string Name { get; }

    /// <summary>The user's question the study answers.</summary>
    string Question { get; }

    StudyReport Run(StudyContext context, CancellationToken cancellationToken = default);
}

/// <summary>The studies by name.</summary>
public static class StudyCatalog
{
    public static IReadOnlyList<IStudy> All { get; } =
        [new SftVsRlhfStudy(), new ForgettingStudy(), new DataStudy(), new ScaleStudy(), new PeftStudy()];

    public static IStudy Find(string name) =>
        All.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"Unknown study '{name}'. Known: {string.Join(", ", All.Select(s => s.Name))}.");
}
