using Rlhf.Feedback;
using Rlhf.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddFeedbackService();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapFeedbackApi();
app.Run();
