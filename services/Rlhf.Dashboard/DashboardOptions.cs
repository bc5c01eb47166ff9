namespace Rlhf.Dashboard;

/// <summary>Configuration section <c>Dashboard</c>.</summary>
public sealed class DashboardOptions
{
    public const string SectionName = "Dashboard";

    /// <summary>
    /// The operator key: when set, every dashboard page and API asks for it (header <c>X-Operator-Key</c>, or the cookie
    /// the login page sets), since the dashboard shows user prompts. Empty: open, with a warning at start.
    /// </summary>
    public string? OperatorKey { get; set; }
}
