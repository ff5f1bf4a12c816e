using SmbLayer.Cli;
using SmbLayer.Protocol;

namespace SmbLayer.Tests.Cli;

public class CommandLineParserTests
{
    [Theory]
    [InlineData("ls", new[] { "smb://h/s" })]
    [InlineData("get", new[] { "smb://h/s/f" })]
    [InlineData("get", new[] { "smb://h/s/f", "local" })]
    [InlineData("get", new[] { "smb://h/s/f", "-" })]
    [InlineData("put", new[] { "local", "smb://h/s/f" })]
    [InlineData("put", new[] { "-", "smb://h/s/f" })]
    [InlineData("cat", new[] { "smb://h/s/f" })]
    [InlineData("rm", new[] { "smb://h/s/f" })]
    [InlineData("mkdir", new[] { "smb://h/s/d" })]
    [InlineData("rmdir", new[] { "smb://h/s/d" })]
    [InlineData("mv", new[] { "smb://h/s/a", "b" })]
    [InlineData("stat", new[] { "smb://h/s/f" })]
    public void Parse_EveryCommandWithValidArity_ReturnsCommandAndArguments(string command, string[] arguments)
    {
        var options = CommandLineParser.Parse([command, .. arguments]);

        Assert.Equal(command, options.Command);
        Assert.Equal(arguments, options.Arguments);
    }

    [Theory]
    [InlineData("ls")]
    [InlineData("ls", "a", "b")]
    [InlineData("get")]
    [InlineData("get", "a", "b", "c")]
    [InlineData("put", "a")]
    [InlineData("put", "a", "b", "c")]
    [InlineData("cat")]
    [InlineData("rm")]
    [InlineData("rm", "a", "b")]
    [InlineData("mkdir")]
    [InlineData("rmdir")]
    [InlineData("mv", "a")]
    [InlineData("mv", "a", "b", "c")]
    [InlineData("stat")]
    [InlineData("stat", "a", "b")]
    public void Parse_WrongArgumentCount_ThrowsUsage(params string[] args)
    {
        var ex = Assert.Throws<UsageException>(() => CommandLineParser.Parse(args));
        Assert.Contains($"'{args[0]}'", ex.Message);
    }

    [Theory]
    [InlineData(new string[0], "missing command")]
    [InlineData(new[] { "frobnicate", "x" }, "unknown command 'frobnicate'")]
    [InlineData(new[] { "ls", "x", "--bogus" }, "unknown option '--bogus'")]
    [InlineData(new[] { "-x", "ls", "x" }, "unknown option '-x'")]
    [InlineData(new[] { "ls", "x", "-U" }, "option '-U' needs a value")]
    [InlineData(new[] { "ls", "x", "-A" }, "option '-A' needs a value")]
    [InlineData(new[] { "ls", "x", "--user" }, "option '--user' needs a value")]
    [InlineData(new[] { "ls", "x", "--min-dialect" }, "option '--min-dialect' needs a value")]
    [InlineData(new[] { "ls", "x", "--max-dialect", "4.0" }, "bad dialect '4.0' for --max-dialect")]
    [InlineData(new[] { "ls", "x", "--sign=yes" }, "option '--sign' takes no value")]
    [InlineData(new[] { "ls", "x", "--min-dialect", "3.1.1", "--max-dialect", "2.1" }, "minimum dialect 3.1.1 is above maximum dialect 2.1")]
    [InlineData(new[] { "ls", "x", "--max-dialect", "2.0.2", "--min-dialect=3.0" }, "minimum dialect 3.0 is above maximum dialect 2.0.2")]
    public void Parse_BadUsage_ThrowsUsageWithMessage(string[] args, string message)
    {
        var ex = Assert.Throws<UsageException>(() => CommandLineParser.Parse(args));
        Assert.StartsWith(message, ex.Message);
    }

    [Fact]
    public void Parse_AllOptionsLongForms_AreRead()
    {
        var options = CommandLineParser.Parse(
            ["--user", @"DOM\bob%pw", "--authentication-file", "/a", "--min-dialect", "2.1", "--max-dialect=3.0.2", "--sign", "--no-pass", "--verbose", "ls", "smb://h/s"]);

        Assert.Equal(@"DOM\bob%pw", options.User);
        Assert.Equal("/a", options.AuthFile);
        Assert.Equal(SmbDialect.Smb210, options.MinDialect);
        Assert.Equal(SmbDialect.Smb302, options.MaxDialect);
        Assert.True(options.RequireSigning);
        Assert.True(options.NoPassword);
        Assert.Equal(1, options.Verbosity);
        Assert.Equal("ls", options.Command);
    }

    [Theory]
    [InlineData(new[] { "-k", "ls", "smb://h/s" }, KerberosPolicy.Required)]
    [InlineData(new[] { "ls", "-vk", "smb://h/s" }, KerberosPolicy.Required)]
    [InlineData(new[] { "--use-kerberos=desired", "ls", "smb://h/s" }, KerberosPolicy.Desired)]
    [InlineData(new[] { "--use-kerberos", "required", "ls", "smb://h/s" }, KerberosPolicy.Required)]
    [InlineData(new[] { "-k", "--use-kerberos=off", "ls", "smb://h/s" }, KerberosPolicy.Off)]
    [InlineData(new[] { "ls", "smb://h/s" }, KerberosPolicy.Off)]
    public void Parse_Kerberos_ReachesClientOptions(string[] args, KerberosPolicy expected)
    {
        var options = CommandLineParser.Parse(args);
        Assert.Equal(expected, options.Kerberos);
        Assert.Equal(expected, CliApp.BuildClientOptions(options, new SmbCredentials("u", "p"), null).Kerberos);
    }

    [Fact]
    public void Parse_IpAddress_ReachesClientOptions()
    {
        var options = CommandLineParser.Parse(["-I", "127.0.0.10", "-k", "ls", "smb://dc1.example/s"]);
        Assert.Equal(System.Net.IPAddress.Parse("127.0.0.10"), CliApp.BuildClientOptions(options, SmbCredentials.TicketCache, null).ServerAddress);
        Assert.Equal(System.Net.IPAddress.IPv6Loopback, CommandLineParser.Parse(["--ip-address=::1", "ls", "smb://h/s"]).ServerAddress);
        Assert.Throws<UsageException>(() => CommandLineParser.Parse(["-I", "dc1", "ls", "smb://h/s"]));
    }

    [Fact]
    public void Parse_UseKerberos_BadValue_IsAUsageError()
    {
        var error = Assert.Throws<UsageException>(() => CommandLineParser.Parse(["--use-kerberos=yes", "ls", "smb://h/s"]));
        Assert.Contains("expected required, desired or off", error.Message);
    }

    [Fact]
    public void Parse_Hard_SetsHardModeAndReachesClientOptions()
    {
        var options = CommandLineParser.Parse(["--hard", "cat", "smb://h/s/f"]);
        Assert.Equal(SmbFailureMode.Hard, options.FailureMode);
        Assert.Equal(SmbFailureMode.Hard, CliApp.BuildClientOptions(options, new SmbCredentials("u", "p"), null).FailureMode);
    }

    [Fact]
    public void Parse_Soft_SetsSoftTimeoutAndReachesClientOptions()
    {
        var options = CommandLineParser.Parse(["cat", "smb://h/s/f", "--soft", "5"]);
        Assert.Equal(SmbFailureMode.Soft, options.FailureMode);
        Assert.Equal(TimeSpan.FromSeconds(5), options.SoftTimeout);
        var client = CliApp.BuildClientOptions(options, new SmbCredentials("u", "p"), null);
        Assert.Equal(SmbFailureMode.Soft, client.FailureMode);
        Assert.Equal(TimeSpan.FromSeconds(5), client.SoftTimeout);
        Assert.Equal(TimeSpan.FromSeconds(0.5), CommandLineParser.Parse(["cat", "smb://h/s/f", "--soft=0.5"]).SoftTimeout);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("soon")]
    [InlineData("NaN")]
    public void Parse_SoftWithBadSeconds_IsUsageError(string value)
    {
        var error = Assert.Throws<UsageException>(() => CommandLineParser.Parse(["cat", "smb://h/s/f", "--soft", value]));
        Assert.Contains("--soft", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_NoModeGiven_ClientDefaultsToSoft30s()
    {
        var client = CliApp.BuildClientOptions(CommandLineParser.Parse(["ls", "smb://h/s"]), new SmbCredentials("u", "p"), null);
        Assert.Equal(SmbFailureMode.Soft, client.FailureMode);
        Assert.Equal(TimeSpan.FromSeconds(30), client.SoftTimeout);
    }

    [Fact]
    public void Parse_Encrypt_SetsRequireEncryptionAndReachesClientOptions()
    {
        var options = CommandLineParser.Parse(["put", "a.bin", "smb://h/s/", "--encrypt"]);

        Assert.True(options.RequireEncryption);
        Assert.False(CommandLineParser.Parse(["ls", "smb://h/s"]).RequireEncryption);
        Assert.True(CliApp.BuildClientOptions(options, new SmbCredentials("u", "p"), null).RequireEncryption);
        Assert.Throws<UsageException>(() => CommandLineParser.Parse(["ls", "smb://h/s", "--encrypt=yes"]));
    }

    [Fact]
    public void Parse_Json_SetsJsonAnywhereOnTheLine()
    {
        Assert.False(CommandLineParser.Parse(["ls", "smb://h/s"]).Json);
        Assert.True(CommandLineParser.Parse(["--json", "ls", "smb://h/s"]).Json);
        Assert.True(CommandLineParser.Parse(["stat", "smb://h/s/f", "--json"]).Json);
        Assert.Equal(["smb://h/s/f"], CommandLineParser.Parse(["stat", "--json", "smb://h/s/f"]).Arguments);
        Assert.False(CommandLineParser.Parse(["stat", "--", "--json"]).Json);
        var error = Assert.Throws<UsageException>(() => CommandLineParser.Parse(["ls", "smb://h/s", "--json=yes"]));
        Assert.StartsWith("option '--json' takes no value", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ShortOptionsAfterCommand_AreRead()
    {
        var options = CommandLineParser.Parse(["get", "smb://h/s/f", "-U", "bob", "-A", "auth.txt", "-N", "-v", "out"]);

        Assert.Equal("bob", options.User);
        Assert.Equal("auth.txt", options.AuthFile);
        Assert.True(options.NoPassword);
        Assert.Equal(["smb://h/s/f", "out"], options.Arguments);
    }

    [Fact]
    public void Parse_AttachedShortValuesAndClusters_AreRead()
    {
        var options = CommandLineParser.Parse(["-vvUbob%x", "-A/etc/auth", "ls", "smb://h/s"]);

        Assert.Equal(2, options.Verbosity);
        Assert.Equal("bob%x", options.User);
        Assert.Equal("/etc/auth", options.AuthFile);
    }

    [Fact]
    public void Parse_DoubleDash_EndsOptions()
    {
        var options = CommandLineParser.Parse(["put", "--", "-v", "smb://h/s/f"]);

        Assert.Equal(["-v", "smb://h/s/f"], options.Arguments);
        Assert.Equal(0, options.Verbosity);
    }

    [Fact]
    public void Parse_UserValueStartingWithDash_IsTakenAsValue()
    {
        var options = CommandLineParser.Parse(["-U", "-odd", "ls", "smb://h/s"]);

        Assert.Equal("-odd", options.User);
    }

    [Theory]
    [InlineData("-h")]
    [InlineData("--help")]
    public void Parse_Help_NeedsNoCommand(string flag)
    {
        Assert.True(CommandLineParser.Parse([flag]).ShowHelp);
        Assert.True(CommandLineParser.Parse(["ls", flag]).ShowHelp);
    }

    [Fact]
    public void Parse_Version_NeedsNoCommand()
    {
        Assert.True(CommandLineParser.Parse(["--version"]).ShowVersion);
    }

    [Theory]
    [InlineData("2.0.2", SmbDialect.Smb202)]
    [InlineData("2.1", SmbDialect.Smb210)]
    [InlineData("3.0", SmbDialect.Smb300)]
    [InlineData("3.0.2", SmbDialect.Smb302)]
    [InlineData("3.1.1", SmbDialect.Smb311)]
    [InlineData("SMB3_11", SmbDialect.Smb311)]
    public void ParseDialect_KnownNames_Parse(string text, SmbDialect expected)
    {
        Assert.Equal(expected, CommandLineParser.ParseDialect("--min-dialect", text));
        Assert.Equal(expected, CommandLineParser.Parse(["--min-dialect", text, "ls", "smb://h/s"]).MinDialect);
    }

    [Theory]
    [InlineData("")]
    [InlineData("1.0")]
    [InlineData("3.1")]
    [InlineData("latest")]
    public void ParseDialect_Unknown_ThrowsUsageListingChoices(string text)
    {
        var ex = Assert.Throws<UsageException>(() => CommandLineParser.ParseDialect("--min-dialect", text));
        Assert.Contains("2.0.2, 2.1, 3.0, 3.0.2, 3.1.1", ex.Message);
    }

    [Fact]
    public void Parse_NoDialectOptions_LeavesLibraryDefaults()
    {
        var options = CommandLineParser.Parse(["ls", "smb://h/s"]);
        var clientOptions = CliApp.BuildClientOptions(options, SmbCredentials.Anonymous, null);

        Assert.Null(options.MinDialect);
        Assert.Equal(new SmbClientOptions().MinDialect, clientOptions.MinDialect);
        Assert.Equal(new SmbClientOptions().MaxDialect, clientOptions.MaxDialect);
        Assert.False(clientOptions.RequireSigning);
    }
}
