using Rlhf.Generation;
using Rlhf.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddGenerationService();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapGenerationApi();
app.Run();
