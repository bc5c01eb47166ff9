using Rlhf.Reward;
using Rlhf.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddRewardService();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapRewardApi();
app.Run();
