using Rlhf.Dashboard;
using Rlhf.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddDashboardService();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapDashboardApi();
app.Run();
