using System.Text;
using SmbLayer.Protocol;

namespace SmbLayer.Tests.Protocol;

public class NtStatusTextTests
{
    [Theory]
    [InlineData(0xC0000257u, "STATUS_PATH_NOT_COVERED")]
    [InlineData(0xC0000418u, "STATUS_NTLM_BLOCKED")]
    [InlineData(0xC000006Du, "STATUS_LOGON_FAILURE")]
    [InlineData(0x00000103u, "STATUS_PENDING")]
    [InlineData(0x80000005u, "STATUS_BUFFER_OVERFLOW")]
    [InlineData(0x00000000u, "STATUS_SUCCESS")]
    [InlineData(0xC05D0002u, "STATUS_SMB_GUEST_LOGON_BLOCKED")]
    public void Describe_KnownValue_GivesOfficialNameAndHex(uint value, string name)
    {
        var status = (NtStatus)value;

        Assert.Equal(name, NtStatusText.Name(status));
        Assert.Equal($"{name} (0x{value:X8})", NtStatusText.Describe(status));
    }

    [Fact]
    public void Describe_ValueOutsideEnum_StillNamed()
    {
        Assert.False(Enum.IsDefined((NtStatus)0xC000009D));
        Assert.Equal("STATUS_DEVICE_NOT_CONNECTED (0xC000009D)", NtStatusText.Describe((NtStatus)0xC000009D));
    }

    [Fact]
    public void Describe_UnknownValue_GivesHexAndUnknown()
    {
        var status = (NtStatus)0xC0FFEE01;

        Assert.Null(NtStatusText.Name(status));
        Assert.Equal("0xC0FFEE01 (unknown status)", NtStatusText.Describe(status));
    }

    [Fact]
    public void Table_EveryEnumValue_HasAName()
    {
        var missing = Enum.GetValues<NtStatus>().Where(s => NtStatusText.Name(s) is null).Select(s => $"0x{(uint)s:X8}");

        Assert.Empty(missing);
    }

    [Fact]
    public void Table_EnumNames_AgreeWithOfficialNames()
    {
        var disagreeing = Enum.GetValues<NtStatus>().Distinct()
            .Where(s => !Enum.GetNames<NtStatus>()
                .Where(n => Enum.Parse<NtStatus>(n) == s)
                .Any(n => "STATUS_" + ToUpperSnake(n) == NtStatusText.Name(s)))
            .Select(s => $"{s} -> {NtStatusText.Name(s)}");

        Assert.Empty(disagreeing);
    }

    [Fact]
    public void Table_Values_AreSortedAndUnique()
    {
        var values = NtStatusNames.Values;

        Assert.Equal(NtStatusNames.Count, values.Length);
        Assert.Equal(values.Length, NtStatusNames.Names.Length);
        Assert.True(values.Length > 2500, $"only {values.Length} entries");
        for (var i = 1; i < values.Length; i++)
        {
            Assert.True(values[i - 1] < values[i], $"entry {i}: 0x{values[i - 1]:X8} then 0x{values[i]:X8}");
        }
    }

    [Fact]
    public void Table_Names_AreWellFormed()
    {
        Assert.All(NtStatusNames.Names, n => Assert.Matches("^(STATUS|DBG|RPC_NT|EPT_NT)_[A-Z0-9_]+$", n));
    }

    [Fact]
    public void Table_EveryEntry_IsFoundByItsValue()
    {
        var values = NtStatusNames.Values.ToArray();

        for (var i = 0; i < values.Length; i++)
        {
            Assert.Same(NtStatusNames.Names[i], NtStatusNames.Find(values[i]));
        }
    }

    [Theory]
    [InlineData(0xC0000418u)] // STATUS_NTLM_BLOCKED
    [InlineData(0xC0000193u)] // STATUS_ACCOUNT_EXPIRED
    [InlineData(0xC000015Bu)] // STATUS_LOGON_TYPE_NOT_GRANTED
    [InlineData(0xC000006Cu)] // STATUS_PASSWORD_RESTRICTION
    [InlineData(0xC0000064u)] // STATUS_NO_SUCH_USER
    [InlineData(0xC0000062u)] // STATUS_INVALID_ACCOUNT_NAME
    [InlineData(0xC0000388u)] // STATUS_DOWNGRADE_DETECTED
    [InlineData(0xC000018Du)] // STATUS_TRUSTED_RELATIONSHIP_FAILURE
    [InlineData(0xC0000133u)] // STATUS_TIME_DIFFERENCE_AT_DC
    [InlineData(0xC0000413u)] // STATUS_AUTHENTICATION_FIREWALL_FAILED
    [InlineData(0xC000006Du)] // STATUS_LOGON_FAILURE
    public void Create_AuthenticationStatus_IsAuthenticationException(uint value)
    {
        var error = SmbStatusException.Create((NtStatus)value, "Session setup");

        Assert.IsType<SmbAuthenticationException>(error);
        Assert.Equal((NtStatus)value, error.Status);
    }

    [Fact]
    public void Create_NtlmBlocked_MessageNamesTheStatus()
    {
        var error = SmbStatusException.Create(NtStatus.NtlmBlocked, "Session setup");

        Assert.IsType<SmbAuthenticationException>(error);
        Assert.Equal("Session setup: STATUS_NTLM_BLOCKED (0xC0000418)", error.Message);
    }

    [Fact]
    public void Create_PathNotCovered_IsPlainStatusException()
    {
        var error = SmbStatusException.Create(NtStatus.PathNotCovered, "Open");

        Assert.Equal(typeof(SmbStatusException), error.GetType());
        Assert.Equal("Open: STATUS_PATH_NOT_COVERED (0xC0000257)", error.Message);
    }

    private static string ToUpperSnake(string name)
    {
        var sb = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            if (i > 0 && char.IsUpper(name[i]))
            {
                sb.Append('_');
            }
            sb.Append(char.ToUpperInvariant(name[i]));
        }
        return sb.ToString();
    }
}
